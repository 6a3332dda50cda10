"""Caption generation: HF `generate` on the prefix embeddings, with the KV cache.

Every prompt in a batch has the same length (N image tokens + separator), so batches need no
padding and a batch decodes exactly as its images would one by one.
"""

from __future__ import annotations

import warnings
from typing import Any, Protocol

import torch
import transformers
from torch import nn

from distilvit import tokens
from distilvit.config import GenerationConfig
from distilvit.model.decoder import check_positions
from distilvit.model.lora import causal_lm
from distilvit.sequence import SequenceFormat


class PrefixCaptioner(Protocol):
    """What generation needs from the model: `distilvit.model.Captioner` (named structurally,
    because `Captioner.caption` calls this module)."""

    format: SequenceFormat
    tokenizer: Any
    lm: nn.Module

    def image_prefix(self, pixel_values: torch.Tensor | None = None,
                     image_features: torch.Tensor | None = None) -> torch.Tensor: ...

    def embed_tokens(self, input_ids: torch.Tensor) -> torch.Tensor: ...


def hf_generation_config(gen: GenerationConfig, fmt: SequenceFormat, tokenizer: Any,
                         use_cache: bool = True) -> transformers.GenerationConfig:
    """A complete HF config, so nothing leaks in from a base model's generation_config.json."""
    sampling = {"temperature": gen.temperature, "top_k": gen.top_k or None,
                "top_p": gen.top_p} if gen.do_sample else {}
    return transformers.GenerationConfig(
        max_new_tokens=gen.max_new_tokens,
        min_new_tokens=gen.min_new_tokens or None,
        num_beams=gen.num_beams,
        do_sample=gen.do_sample,
        repetition_penalty=gen.repetition_penalty,
        no_repeat_ngram_size=gen.no_repeat_ngram_size,
        bad_words_ids=bad_words_ids(tokenizer, gen.bad_words) or None,
        eos_token_id=fmt.eos_id,
        pad_token_id=fmt.pad_id,
        use_cache=use_cache,
        **sampling,
    )


def bad_words_ids(tokenizer: Any, words: tuple[str, ...]) -> list[list[int]]:
    """`distilvit.tokens.bad_words_ids` with a transformers tokenizer, as HF wants it."""
    def encode(text: str) -> list[int]:
        return tokenizer(text, add_special_tokens=False)["input_ids"]

    return [list(ids) for ids in tokens.bad_words_ids(encode, words)]


def prompt_embeddings(model: PrefixCaptioner, prefix: torch.Tensor) -> torch.Tensor:
    """[image prefix][separator] as embeddings: [B, N + 1, D]."""
    sep = torch.tensor([model.format.prompt_ids()], device=prefix.device)
    sep_embeds = model.embed_tokens(sep).expand(prefix.shape[0], -1, -1)
    return torch.cat([prefix.to(sep_embeds.dtype), sep_embeds], dim=1)


@torch.inference_mode()
def generate_ids(model: PrefixCaptioner, pixel_values: torch.Tensor | None, gen: GenerationConfig,
                 use_cache: bool = True, image_features: torch.Tensor | None = None,
                 blind: bool = False) -> torch.Tensor:
    """New token ids [B, T] (EOS and padding after it included).

    `blind` zeroes the image prefix: the baseline that shows how much the model uses the image.
    """
    prefix = model.image_prefix(pixel_values, image_features)
    if blind:
        prefix = torch.zeros_like(prefix)
    embeds = prompt_embeddings(model, prefix)
    # the last new token is never fed back: prompt + max_new_tokens - 1 positions
    check_positions(causal_lm(model.lm), embeds.shape[1] + gen.max_new_tokens - 1,
                    f"--max-new-tokens {gen.max_new_tokens}")
    mask = torch.ones(embeds.shape[:2], dtype=torch.long, device=embeds.device)
    config = hf_generation_config(gen, model.format, model.tokenizer, use_cache)
    with torch.random.fork_rng(devices=[]), warnings.catch_warnings():
        torch.manual_seed(gen.seed)
        # n-gram rules apply to generated tokens only: the prompt is image embeddings.
        warnings.filterwarnings("ignore", message=".*no_repeat_ngram_size.*")
        return causal_lm(model.lm).generate(inputs_embeds=embeds, attention_mask=mask,
                                            generation_config=config)


def decode(model: PrefixCaptioner, token_ids: torch.Tensor) -> list[str]:
    """Text up to the first EOS, special tokens dropped."""
    return [model.tokenizer.decode(tokens.until_eos(row, model.format.eos_id),
                                   skip_special_tokens=True).strip()
            for row in token_ids.tolist()]


def generate_captions(model: PrefixCaptioner, pixel_values: torch.Tensor,
                      gen: GenerationConfig) -> list[str]:
    return decode(model, generate_ids(model, pixel_values, gen))
