"""LoRA adapters on the language model, through peft."""

from __future__ import annotations

import warnings

import peft
from torch import nn
from transformers import PreTrainedModel

from distilvit.config import LoraConfig
from distilvit.errors import ConfigError

# Attention projections per family: the standard LoRA placement (Hu et al. 2021, sec. 7.1).
ATTENTION_TARGETS: dict[str, list[str]] = {
    "q_proj": ["q_proj", "k_proj", "v_proj", "o_proj"],  # Llama, SmolLM, Qwen2, Mistral
    "qkv_proj": ["qkv_proj", "o_proj"],  # Phi-3 fuses q/k/v
    "c_attn": ["c_attn", "attn.c_proj"],  # GPT-2 (Conv1D layers)
}


def target_modules(model: nn.Module, spec: str) -> list[str] | str:
    """Resolve 'auto', 'all-linear' or a comma-separated list into peft's target_modules."""
    if spec == "all-linear":
        return "all-linear"
    if spec != "auto":
        return [name.strip() for name in spec.split(",") if name.strip()]
    leaf_names = {name.rsplit(".", 1)[-1] for name, _ in model.named_modules()}
    for marker, targets in ATTENTION_TARGETS.items():
        if marker in leaf_names:
            return targets
    return "all-linear"


def add_lora(model: PreTrainedModel, config: LoraConfig) -> nn.Module:
    """Wrap the LM with LoRA adapters (frozen base); r=0 returns the LM frozen and unchanged."""
    if config.r <= 0:
        return model.requires_grad_(False)
    targets = target_modules(model, config.target_modules)
    lora = peft.LoraConfig(
        r=config.r,
        lora_alpha=config.alpha,
        lora_dropout=config.dropout,
        target_modules=targets,
        fan_in_fan_out=model.config.model_type == "gpt2",  # GPT-2 stores weights transposed
        bias="none",
        task_type="CAUSAL_LM",
    )
    with warnings.catch_warnings():
        # peft calls a transformers API deprecated in v5; nothing for our users to act on.
        warnings.simplefilter("ignore", FutureWarning)
        try:
            return peft.get_peft_model(model, lora)
        except ValueError as exc:  # peft: "Target modules {...} not found in the base model"
            if "not found" not in str(exc):
                raise
            raise ConfigError(f"--lora-targets {config.target_modules!r} matches no module of "
                              f"{type(model).__name__}; use auto, all-linear or its module "
                              "names (e.g. q_proj,v_proj)") from None


def causal_lm(model: nn.Module) -> PreTrainedModel:
    """The underlying CausalLM (LoRA layers injected in place when peft wraps it)."""
    return model.get_base_model() if isinstance(model, peft.PeftModel) else model


def merge_lora(model: nn.Module) -> PreTrainedModel:
    """Fold the adapters into the base weights and drop peft's wrappers."""
    if isinstance(model, peft.PeftModel):
        return model.merge_and_unload()
    return model
