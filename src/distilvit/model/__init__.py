"""The captioner: frozen vision tower -> projector -> prefix tokens -> causal LM (+ LoRA)."""

from distilvit.model.captioner import Captioner, merge_checkpoint

__all__ = ["Captioner", "merge_checkpoint"]
