"""Base models built from configs with random weights, saved in Hugging Face format.

Nothing can be downloaded here, so tests, benchmarks and the tiny pretrained bases all start
from these: a byte-level BPE tokenizer trained locally, a SigLIP-architecture vision tower with
its image processor, and a causal LM of one of four families. The folders they write load with
the same `from_pretrained` calls a user's `google/siglip-base-patch16-224` goes through.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import torch
import transformers
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import PreTrainedTokenizerFast, SiglipVisionConfig

from distilvit.runtime import hf_quiet

END_OF_TEXT = "<|endoftext|>"
PAD = "<pad>"

# The `base` preset's shapes, as published configs give them (no weights needed).
SIGLIP_BASE_224 = dict(hidden_size=768, intermediate_size=3072, num_hidden_layers=12,
                       num_attention_heads=12, image_size=224, patch_size=16)
SMOLLM_135M = dict(vocab_size=49152, hidden_size=576, intermediate_size=1536,
                   num_hidden_layers=30, num_attention_heads=9, num_key_value_heads=3,
                   max_position_embeddings=2048, rope_theta=10000.0, tie_word_embeddings=True)
# DistilGPT-2 (the `compact` preset's LM and the old design's decoder): GPT-2 with 6 layers.
DISTILGPT2 = dict(vocab_size=50257, n_positions=1024, n_embd=768, n_layer=6, n_head=12)


def train_tokenizer(texts: Iterable[str], vocab_size: int = 512,
                    separate_pad: bool = False) -> PreTrainedTokenizerFast:
    """Byte-level BPE (GPT-2 style). `<|endoftext|>` is BOS and EOS; pad is EOS unless asked."""
    specials = [END_OF_TEXT] + ([PAD] if separate_pad else [])
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=specials,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  show_progress=False)
    tok.train_from_iterator(texts, trainer=trainer)
    return PreTrainedTokenizerFast(tokenizer_object=tok, bos_token=END_OF_TEXT,
                                   eos_token=END_OF_TEXT,
                                   pad_token=PAD if separate_pad else END_OF_TEXT)


def save_vision_tower(out: str | Path, seed: int = 0, **sizes: Any) -> Path:
    """A random SigLIP vision tower plus the matching image processor."""
    config = SiglipVisionConfig(**sizes)
    torch.manual_seed(seed)
    model = transformers.SiglipVisionModel(config)
    size = config.image_size
    # The Pillow-backed class writes the standard `SiglipImageProcessor` config.
    processor = transformers.SiglipImageProcessorPil(size={"height": size, "width": size})
    with hf_quiet():
        model.save_pretrained(out)
    processor.save_pretrained(out)
    return Path(out)


LM_FAMILIES: dict[str, tuple[str, str]] = {
    "llama": ("LlamaConfig", "LlamaForCausalLM"),
    "qwen2": ("Qwen2Config", "Qwen2ForCausalLM"),
    "phi3": ("Phi3Config", "Phi3ForCausalLM"),
    "gpt2": ("GPT2Config", "GPT2LMHeadModel"),
}


def lm_config(family: str, tokenizer, hidden: int = 64, layers: int = 2, heads: int = 4,
              **extra: Any) -> transformers.PretrainedConfig:
    config_cls = getattr(transformers, LM_FAMILIES[family][0])
    ids = dict(vocab_size=len(tokenizer), bos_token_id=tokenizer.bos_token_id,
               eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id)
    if family == "gpt2":
        sizes = dict(n_embd=hidden, n_layer=layers, n_head=heads, n_positions=256)
    else:
        sizes = dict(hidden_size=hidden, intermediate_size=hidden * 2, num_hidden_layers=layers,
                     num_attention_heads=heads, num_key_value_heads=max(1, heads // 2),
                     max_position_embeddings=256)
    return config_cls(**{**ids, **sizes, **extra})


def save_language_model(out: str | Path, config: transformers.PretrainedConfig, tokenizer,
                        seed: int = 0) -> Path:
    """A random causal LM of `config`'s family, saved with its tokenizer."""
    model_cls = getattr(transformers, LM_FAMILIES[_family(config)][1])
    torch.manual_seed(seed)
    model = model_cls(config)
    with hf_quiet():
        model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return Path(out)


def _family(config: transformers.PretrainedConfig) -> str:
    for family, (config_name, _) in LM_FAMILIES.items():
        if type(config).__name__ == config_name:
            return family
    raise ValueError(f"no LM family for {type(config).__name__}")


# The presets' language models by shape (family, config sizes): no weights needed.
REAL_LM_SHAPES: dict[str, tuple[str, dict[str, Any]]] = {
    "HuggingFaceTB/SmolLM-135M": ("llama", SMOLLM_135M),
    "distilbert/distilgpt2": ("gpt2", DISTILGPT2),
}


def random_captioner(config, vision_sizes: dict[str, Any] | None = None,
                     lm_sizes: dict[str, Any] | None = None, seed: int = 0):
    """A Captioner of the given architecture with random weights, built in memory.

    For benchmarks of the real shapes where no weights can be downloaded: the LM's family and
    sizes come from `REAL_LM_SHAPES` by the config's decoder name (SmolLM-135M's otherwise),
    `lm_sizes` overrides the sizes.
    """
    from distilvit.model import Captioner
    from distilvit.model.encoder import VisionEncoder
    from distilvit.model.lora import add_lora

    torch.manual_seed(seed)
    vision = SiglipVisionConfig(**(vision_sizes or SIGLIP_BASE_224), vision_use_head=False)
    tower = transformers.SiglipVisionModel(vision)
    tokenizer = train_tokenizer(["a photo of a dog on the grass"] * 8, vocab_size=300)
    family, sizes = REAL_LM_SHAPES.get(config.decoder.name_or_path, ("llama", SMOLLM_135M))
    config_cls, model_cls = (getattr(transformers, name) for name in LM_FAMILIES[family])
    lm = model_cls(config_cls(**(lm_sizes or sizes), bos_token_id=0, eos_token_id=0,
                              pad_token_id=0))
    size = vision.image_size
    processor = transformers.SiglipImageProcessorPil(size={"height": size, "width": size})
    encoder = VisionEncoder(tower, config.encoder)
    return Captioner(config, encoder, add_lora(lm, config.lora), tokenizer, processor).eval()
