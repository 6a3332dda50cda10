"""The captioner: frozen vision tower -> projector -> prefix tokens -> causal LM (+ LoRA)."""

from distilvit.model.captioner import Captioner

__all__ = ["Captioner"]
