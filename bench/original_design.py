"""The seed's own prefix design (tarekziade/distilvit2), the one definition every bench uses.

What its `distilvit/prefix_model.py` and `distilvit/train.py` do, at the `base` shapes with
random weights (nothing can be downloaded here), re-expressed rather than copied:

- vision: `SiglipVisionModel` with SigLIP's attention-pooling head kept (its `pooler_output`
  is computed every forward and never used), frozen, run under `no_grad` every step;
- projection: one `Linear(768, 576)` over all 196 patch features (its default
  `--projection-type linear`), the 196 outputs are the prefix;
- LM: SmolLM-135M shapes with PEFT LoRA r 16, alpha 16, dropout 0.1 on q/k/v/o, and
  `gradient_checkpointing_enable()` on the LM (as its train.py does after building the model);
- loss: the LM's own loss over the whole `[196 image][32 caption]` = 228-position sequence:
  labels -100 on the image positions, logits at every position, no attention mask (its
  collator passes only pixel_values, input_ids and labels);
- step: HF `Trainer` with its optimizer, i.e. AdamW over two groups (projection lr 3e-4,
  LoRA lr 1e-4, both weight decay 0.01), gradient clipping at 1.0, cosine schedule with 200
  warm-up steps, fp32 on the CPU (fp16 only on CUDA);
- generation: `language_model.generate(inputs_embeds=prefix)` with 3 beams, sampling,
  top-p 0.9, temperature 1, the KV cache, 30 new tokens by default; no separator token.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import transformers
from peft import LoraConfig, TaskType, get_peft_model
from torch import nn
from transformers import SiglipVisionConfig, SiglipVisionModel

from distilvit.bases import SIGLIP_BASE_224, SMOLLM_135M

IGNORE = -100
CAPTION_TOKENS = 32  # caption positions in a training step (the benches' shared figure)


@dataclass(frozen=True)
class SeedSettings:
    """The seed's defaults (train.py's argparse defaults and TrainingArguments)."""

    lora_r: int = 16
    lora_alpha: int = 16
    lora_dropout: float = 0.1
    lora_targets: tuple[str, ...] = ("q_proj", "v_proj", "k_proj", "o_proj")  # llama family
    projection_lr: float = 3e-4
    lora_lr: float = 1e-4
    weight_decay: float = 0.01
    max_grad_norm: float = 1.0  # TrainingArguments' default
    warmup_steps: int = 200
    total_steps: int = 10_000  # the cosine schedule's length; its value does not change cost
    num_beams: int = 3
    top_p: float = 0.9
    temperature: float = 1.0
    max_new_tokens: int = 30


SEED = SeedSettings()


class OriginalDesign(nn.Module):
    """SigLIP (with head) -> Linear over 196 patches -> LoRA'd causal LM, as the seed built it."""

    def __init__(self, vision: SiglipVisionModel, lm: transformers.PreTrainedModel,
                 settings: SeedSettings = SEED, eos_id: int = 0):
        super().__init__()
        self.settings, self.eos_id = settings, eos_id
        self.vision_encoder = vision.requires_grad_(False)
        self.projection = nn.Linear(vision.config.hidden_size, lm.config.hidden_size)
        lora = LoraConfig(r=settings.lora_r, lora_alpha=settings.lora_alpha,
                          lora_dropout=settings.lora_dropout,
                          target_modules=list(settings.lora_targets), bias="none",
                          task_type=TaskType.CAUSAL_LM)
        self.language_model = get_peft_model(lm, lora)
        self.language_model.gradient_checkpointing_enable()

    def prefix(self, pixel_values: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():  # frozen tower: the seed turns grad off around it
            features = self.vision_encoder(pixel_values, return_dict=True).last_hidden_state
        return self.projection(features)

    def forward(self, pixel_values: torch.Tensor, input_ids: torch.Tensor,
                labels: torch.Tensor) -> torch.Tensor:
        """The LM's loss over [prefix][caption], prefix labels -100 (the seed's forward)."""
        prefix = self.prefix(pixel_values)
        text = self.language_model.get_base_model().get_input_embeddings()(input_ids)
        ignore = torch.full(prefix.shape[:2], IGNORE, dtype=labels.dtype)
        out = self.language_model(inputs_embeds=torch.cat([prefix, text], dim=1),
                                  labels=torch.cat([ignore, labels], dim=1))
        return out.loss

    @torch.inference_mode()
    def generate(self, pixel_values: torch.Tensor, max_new_tokens: int | None = None,
                 min_new_tokens: int = 0, seed: int = 0) -> torch.Tensor:
        """Beam sampling from the prefix alone; `min_new_tokens` suppresses EOS (benches)."""
        s = self.settings
        prefix = self.prefix(pixel_values)
        mask = torch.ones(prefix.shape[:2], dtype=torch.long)
        torch.manual_seed(seed)
        return self.language_model.generate(
            inputs_embeds=prefix, attention_mask=mask,
            max_new_tokens=max_new_tokens or s.max_new_tokens, min_new_tokens=min_new_tokens,
            num_beams=s.num_beams, temperature=s.temperature, top_p=s.top_p, do_sample=True,
            pad_token_id=self.eos_id, eos_token_id=self.eos_id)


def build_original(vision_sizes: dict | None = None, lm_sizes: dict | None = None,
                   seed: int = 0) -> OriginalDesign:
    """The design at the `base` shapes (or the given ones), random weights."""
    torch.manual_seed(seed)
    vision = SiglipVisionModel(SiglipVisionConfig(**(vision_sizes or SIGLIP_BASE_224)))
    lm = transformers.LlamaForCausalLM(transformers.LlamaConfig(
        **(lm_sizes or SMOLLM_135M), bos_token_id=0, eos_token_id=0, pad_token_id=0))
    return OriginalDesign(vision, lm)


class SeedTrainer:
    """One optimisation step the way the seed's `Trainer` ran it (see the module docstring)."""

    def __init__(self, model: OriginalDesign):
        s = model.settings
        named = list(model.named_parameters())
        groups = [
            {"params": [p for n, p in named if "projection" in n and p.requires_grad],
             "lr": s.projection_lr, "weight_decay": s.weight_decay},
            {"params": [p for n, p in named if "lora" in n.lower() and p.requires_grad],
             "lr": s.lora_lr, "weight_decay": s.weight_decay},
        ]
        self.model = model
        self.optimizer = torch.optim.AdamW(groups, lr=s.lora_lr, betas=(0.9, 0.999))
        self.scheduler = transformers.get_scheduler(
            "cosine", self.optimizer, num_warmup_steps=s.warmup_steps,
            num_training_steps=s.total_steps)

    def step(self, pixel_values: torch.Tensor, input_ids: torch.Tensor,
             labels: torch.Tensor) -> float:
        self.model.train()
        loss = self.model(pixel_values, input_ids, labels)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.model.settings.max_grad_norm)
        self.optimizer.step()
        self.scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)
        return float(loss.detach())


def random_batch(batch: int, image_size: int = 224, tokens: int = CAPTION_TOKENS,
                 vocab: int = 300, seed: int = 0) -> dict[str, torch.Tensor]:
    """Pixels and a full-length caption (labels = ids, as the seed's collator makes them)."""
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(1, vocab, (batch, tokens), generator=g)
    return {"pixel_values": torch.randn(batch, 3, image_size, image_size, generator=g),
            "input_ids": ids, "labels": ids.clone()}


def parameter_counts(model: nn.Module) -> dict[str, int]:
    """Total (`parameters()` counts a tied tensor once) and trainable parameters."""
    params = list(model.parameters())
    return {"total": sum(p.numel() for p in params),
            "trainable": sum(p.numel() for p in params if p.requires_grad)}
