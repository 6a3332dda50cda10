"""Language model and tokenizer: any AutoModelForCausalLM, by Hub id, local folder or GGUF file."""

from __future__ import annotations

from torch import nn
from transformers import AutoModelForCausalLM, AutoTokenizer, PreTrainedModel

from distilvit.errors import ConfigError
from distilvit.model.gguf import gguf_location, load_gguf_lm, load_gguf_tokenizer
from distilvit.model.loading import load_or_explain


def load_language_model(path: str, trust_remote_code: bool = False) -> PreTrainedModel:
    """`path`: Hub id, model folder, or a .gguf file (or a folder holding one)."""
    gguf = gguf_location(path)
    if gguf is not None:
        return load_or_explain("language model", path,
                               lambda: load_gguf_lm(*gguf, trust_remote_code=trust_remote_code))
    return load_or_explain("language model", path, lambda: AutoModelForCausalLM.from_pretrained(
        path, trust_remote_code=trust_remote_code, dtype="float32"))


def load_tokenizer(path: str, trust_remote_code: bool = False):
    gguf = gguf_location(path)
    if gguf is not None:
        tokenizer = load_or_explain("tokenizer", path, lambda: load_gguf_tokenizer(
            *gguf, trust_remote_code=trust_remote_code))
    else:
        tokenizer = load_or_explain("tokenizer", path, lambda: AutoTokenizer.from_pretrained(
            path, trust_remote_code=trust_remote_code))
    if tokenizer.eos_token_id is None:
        raise ValueError(f"tokenizer at {path!r} has no EOS token; captions cannot end")
    if tokenizer.pad_token_id is None:
        # Padding positions are masked by length, never by token value, so EOS is a safe pad.
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def backbone(causal_lm: PreTrainedModel) -> nn.Module:
    """The transformer without its LM head (`model` for Llama-likes, `transformer` for GPT-2)."""
    return getattr(causal_lm, causal_lm.base_model_prefix)


def check_positions(causal_lm: PreTrainedModel, positions: int, setting: str) -> None:
    """ConfigError when a sequence of `positions` (image prefix included) is longer than the
    LM's learned absolute position table (GPT-2's `n_positions`; 1,024 for DistilGPT-2).

    Past the table the position lookup fails deep inside the LM (an index error in torch, a
    Gather out of range in ONNX Runtime); rotary LMs have no table and are not checked.
    """
    limit = getattr(causal_lm.config, "n_positions", None)
    if isinstance(limit, int) and positions > limit:
        raise ConfigError(f"{setting} makes sequences of {positions} positions (image prefix "
                          f"included) but the language model has {limit} learned positions; "
                          "lower it or use fewer prefix tokens")
