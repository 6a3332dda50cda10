"""The exported folder's layout: names shared by the exporter and the torch-free runtime.

    OUT/config.json                      LLaVA-shaped config + a `distilvit_export` block
    OUT/generation_config.json           max_new_tokens, eos/pad ids (for transformers.js)
    OUT/preprocessor_config.json         the vision tower's image processor
    OUT/processor_config.json            `<image>` token, patch size (LlavaProcessor)
    OUT/tokenizer.json, tokenizer_config.json, ...
    OUT/onnx/vision_encoder{suffix}.onnx       pixel_values -> image_features
    OUT/onnx/embed_tokens{suffix}.onnx         input_ids -> inputs_embeds
    OUT/onnx/decoder_model_merged{suffix}.onnx inputs_embeds, mask, positions, past -> logits

The suffixes are transformers.js's: "" for fp32, `_quantized` for INT8 (its "q8"), `_q4` for
4-bit weights, `_fp16` for fp16.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from distilvit.errors import ModelDirError
from distilvit.folders import CONFIG_FILE, peek_config_json

ONNX_DIR = "onnx"
EXPORT_KEY = "distilvit_export"  # our block inside config.json; its presence marks an export
EXPORT_FORMAT = 1
LLAVA, VED = "llava", "vision-encoder-decoder"  # the two layouts (`distilvit export --layout`)
GRAPHS = ("vision_encoder", "embed_tokens", "decoder_model_merged")  # the llava layout's
VED_GRAPHS = ("encoder_model", "decoder_model_merged")
VARIANT_SUFFIX = {"fp32": "", "int8": "_quantized", "q4": "_q4", "fp16": "_fp16"}
IMAGE_TOKEN = "<image>"


def graph_file(graph: str, variant: str) -> str:
    """Path of one graph relative to the folder, e.g. `onnx/decoder_model_merged_quantized.onnx`."""
    return f"{ONNX_DIR}/{graph}{VARIANT_SUFFIX[variant]}.onnx"


def is_exported(folder: str | Path, config: dict[str, Any] | None = None) -> bool:
    """True for a folder written by `distilvit export` (an ONNX config, not a checkpoint).

    `config`: the folder's config.json when the caller has read it already (else it is read).
    """
    if not (Path(folder) / ONNX_DIR).is_dir():
        return False
    return EXPORT_KEY in (peek_config_json(folder) if config is None else config)


def read_export_config(folder: str | Path,
                       config: dict[str, Any] | None = None) -> dict[str, Any]:
    """The `distilvit_export` block, or a one-line ModelDirError saying what is wrong.

    `config`: the folder's config.json when the caller has read it already (else it is read).
    """
    path = Path(folder)
    if not path.is_dir():
        raise ModelDirError(f"{folder}: no such exported model directory")
    config = peek_config_json(path) if config is None else config
    if not is_exported(path, config):
        raise ModelDirError(f"{folder}: not an exported model (no {ONNX_DIR}/ and "
                            f"{EXPORT_KEY} in {CONFIG_FILE}); run `distilvit export` first")
    block = config[EXPORT_KEY]
    if block.get("format", 0) > EXPORT_FORMAT:
        raise ModelDirError(f"{folder}: export format {block['format']} is newer than this "
                            f"distilvit understands ({EXPORT_FORMAT}); upgrade distilvit")
    return block


def variants_in(folder: str | Path, graphs: tuple[str, ...] = GRAPHS) -> list[str]:
    """Variants whose graphs (default: the llava layout's three) are all present."""
    return [v for v in VARIANT_SUFFIX
            if all((Path(folder) / graph_file(g, v)).is_file() for g in graphs)]
