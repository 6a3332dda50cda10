"""The config files of an exported folder: enough to caption with it, alone.

They follow transformers.js's LLaVA conventions (checked in stock transformers.js, see
/docs/onnx-export.md): `model_type: "llava"` with `image_token_index` and `text_config`,
`generation_config.json` with `max_new_tokens`, a `LlavaProcessor` whose `patch_size` is the
vision patch times the pixel-shuffle factor so one `<image>` placeholder expands to N tokens.
Our own runtime reads the `distilvit_export` block instead of guessing from HF configs.
The vision-encoder-decoder layout (`distilvit.export.ved`) shares the block, the generation
config and the tokenizer files.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import torch
import transformers
from torch import nn

from distilvit import __version__
from distilvit.export.graphs import LMShape
from distilvit.generate import bad_words_ids
from distilvit.model.captioner import Captioner
from distilvit.ort.files import CONFIG_FILE, EXPORT_FORMAT, EXPORT_KEY, IMAGE_TOKEN

FEATURE_STRATEGY = "full"  # every prefix token is an image token (no CLS to drop)


def export_block(model: Captioner, shape: LMShape, prefix_tokens: int, variants: list[str],
                 opset: int, layout: str, image_token_id: int | None) -> dict[str, Any]:
    """The `distilvit_export` block: what our runtime and model cards read."""
    fmt, gen = model.format, model.config.generation
    return {
        "format": EXPORT_FORMAT, "layout": layout, "distilvit_version": __version__,
        "opset": opset,
        "exporter": f"torch.onnx TorchScript (torch {torch.__version__}, "
                    f"transformers {transformers.__version__})",
        "family": shape.family, "num_hidden_layers": shape.num_layers,
        "num_key_value_heads": shape.num_kv_heads, "head_dim": shape.head_dim,
        "hidden_size": shape.hidden_size, "vocab_size": shape.vocab_size,
        "prefix_tokens": prefix_tokens, "separator_id": fmt.separator_id,
        "eos_id": fmt.eos_id, "pad_id": fmt.pad_id, "image_token_id": image_token_id,
        "variants": variants, "generation": dataclasses.asdict(gen),
        "captioner": model.config.to_dict(),  # base models, projector, LoRA: for model cards
    }


def text_config(lm: nn.Module, shape: LMShape) -> dict[str, Any]:
    """The LM's own config with the cache sizes transformers.js reads spelled out."""
    config = json.loads(lm.config.to_json_string())
    config.update(num_key_value_heads=shape.num_kv_heads, head_dim=shape.head_dim)
    return config


def write_layout(out: Path, model: Captioner, lm: nn.Module, shape: LMShape, tokenizer: Any,
                 image_token_id: int, prefix_tokens: int, variants: list[str],
                 opset: int) -> None:
    """The LLaVA layout's config files."""
    fmt = model.format
    tower = model.encoder.tower.config
    block = export_block(model, shape, prefix_tokens, variants, opset, "llava", image_token_id)
    config = {
        "architectures": ["LlavaForConditionalGeneration"], "model_type": "llava",
        "image_token_index": image_token_id, "image_seq_length": prefix_tokens,
        "vision_feature_select_strategy": FEATURE_STRATEGY, "vision_feature_layer": -1,
        "bos_token_id": fmt.separator_id, "eos_token_id": fmt.eos_id,
        "pad_token_id": fmt.pad_id, "text_config": text_config(lm, shape),
        "vision_config": json.loads(tower.to_json_string()), EXPORT_KEY: block,
    }
    write_json(out / CONFIG_FILE, config)
    write_json(out / "generation_config.json", generation_config(model, model.config.generation))
    save_tokenizer(out, model, tokenizer)
    _write_processor(out, model, tower.patch_size * model.config.projector.pixel_shuffle_factor)


def save_tokenizer(out: Path, model: Captioner, tokenizer) -> None:
    tokenizer.save_pretrained(out)
    if not (out / "tokenizer.json").is_file():
        raise ValueError(f"the tokenizer of {model.config.decoder.name_or_path!r} has no fast "
                         "(tokenizer.json) form; the ONNX runtime needs one")


def generation_config(model: Captioner, gen) -> dict[str, Any]:
    """HF-style generation defaults (transformers.js's default max_length 20 is too short)."""
    fmt = model.format
    config = {"max_new_tokens": gen.max_new_tokens, "min_new_tokens": gen.min_new_tokens,
              "num_beams": gen.num_beams, "do_sample": gen.do_sample,
              "repetition_penalty": gen.repetition_penalty,
              "no_repeat_ngram_size": gen.no_repeat_ngram_size,
              "bos_token_id": fmt.separator_id, "eos_token_id": fmt.eos_id,
              "pad_token_id": fmt.pad_id}
    banned = bad_words_ids(model.tokenizer, gen.bad_words)
    if banned:
        config["bad_words_ids"] = banned
    return config


def _write_processor(out: Path, model: Captioner, patch_size: int) -> None:
    """LlavaProcessor around the tower's image processor (the `<image>` expansion rule)."""
    model.image_processor.save_pretrained(out)
    path = out / "preprocessor_config.json"
    processor = json.loads(path.read_text())
    processor["processor_class"] = "LlavaProcessor"
    write_json(path, processor)
    write_json(out / "processor_config.json", {
        "processor_class": "LlavaProcessor", "image_token": IMAGE_TOKEN,
        "patch_size": patch_size, "num_additional_image_tokens": 0,
        "vision_feature_select_strategy": FEATURE_STRATEGY})


def write_json(path: Path, data: dict[str, Any]) -> None:
    path.write_text(json.dumps(data, indent=2) + "\n")
