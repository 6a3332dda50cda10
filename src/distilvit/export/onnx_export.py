"""Export a Captioner to the three-graph ONNX layout (see docs/onnx-export.md).

Exporter: torch.onnx's TorchScript path (`dynamo=False`). Both paths export all four LM
families correctly here (checked against torch to ~1e-7), but the dynamo path took ~5 s per
tiny decoder against ~0.3 s (the test suite exports four families), it needs opset >= 18,
and it names dynamic dims after the expressions it derives (`past_sequence_length +
sequence_length`) where transformers.js wants fixed names. The TorchScript path is
deprecated in torch >= 2.9 but present in the pinned 2.13; traced graphs are checked against
torch on every export (`distilvit.export.verify`), so a silent tracing error cannot ship.
"""

from __future__ import annotations

import copy
import logging
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import peft
import torch
from torch import nn

from distilvit.export.graphs import (
    DecoderGraph,
    EmbedGraph,
    LMShape,
    VisionGraph,
    conv1d_as_matmul,
)
from distilvit.export.layout import write_layout
from distilvit.export.quantize import make_variant
from distilvit.model.captioner import Captioner
from distilvit.model.lora import causal_lm, merge_lora
from distilvit.ort.files import GRAPHS, IMAGE_TOKEN, ONNX_DIR, graph_file

logger = logging.getLogger(__name__)

OPSET = 17  # LayerNormalization is a single op from 17; supported by onnxruntime-web
QUANTIZE_CHOICES = {"none": (), "int8": ("int8",), "q4": ("q4",), "fp16": ("fp16",),
                    "all": ("int8", "q4", "fp16")}


@dataclass
class ExportResult:
    folder: Path
    shape: LMShape
    prefix_tokens: int
    variants: list[str]
    files: dict[str, int] = field(default_factory=dict)  # relative path -> bytes
    graphs: tuple[str, ...] = GRAPHS  # the layout's graph names

    def sizes_mb(self, variant: str) -> dict[str, float]:
        return {g: self.files[graph_file(g, variant)] / 1e6 for g in self.graphs}


def export_captioner(model: Captioner, output_dir: str | Path,
                     quantize: str = "int8") -> ExportResult:
    """Write the fp32 graphs, the requested variants and the config files to `output_dir`.

    The caller's model is not modified: LoRA is merged into a copy of the language model.
    """
    out, lm, shape = start_export(model, output_dir, quantize)
    tokenizer = copy.deepcopy(model.tokenizer)
    tokenizer.add_special_tokens({"additional_special_tokens": [IMAGE_TOKEN]})
    image_token_id = tokenizer.convert_tokens_to_ids(IMAGE_TOKEN)
    variants = ["fp32", *QUANTIZE_CHOICES[quantize]]
    unmerged = out / ONNX_DIR / "decoder_unmerged.tmp.onnx"
    try:
        with quiet_tracing(), torch.inference_mode(False), torch.no_grad():
            prefix_tokens = export_vision(model, out / graph_file("vision_encoder", "fp32"))
            export_embed(lm, max(shape.vocab_size, image_token_id + 1),
                         out / graph_file("embed_tokens", "fp32"))
            export_decoder(lm, shape, out / graph_file("decoder_model_merged", "fp32"))
            sources = q4_sources(model, shape, variants, unmerged, "decoder_model_merged")
        write_layout(out, model, lm, shape, tokenizer, image_token_id, prefix_tokens, variants,
                     OPSET)
        write_variants(out, GRAPHS, variants, sources=sources)
    finally:
        unmerged.unlink(missing_ok=True)
    logger.info("exported %s (%s)", out, ", ".join(variants))
    return ExportResult(out, shape, prefix_tokens, variants, file_sizes(out))


def start_export(model: Captioner, output_dir: str | Path,
                 quantize: str) -> tuple[Path, Any, LMShape]:
    """(folder with its onnx/ made, the LM with LoRA merged into a copy, its shape)."""
    if quantize not in QUANTIZE_CHOICES:
        raise ValueError(f"quantize must be one of {', '.join(QUANTIZE_CHOICES)}")
    out = Path(output_dir)
    (out / ONNX_DIR).mkdir(parents=True, exist_ok=True)
    lm = merged_language_model(model)
    return out, lm, LMShape.of(lm)


def write_variants(out: Path, graphs: tuple[str, ...], variants: list[str],
                   int8_ops: dict[str, list[str]] | None = None,
                   sources: dict[tuple[str, str], Path] | None = None) -> None:
    """Every variant after fp32 (the first) of every graph, made from the fp32 file or from
    `sources[(graph, variant)]` (the q4 decoder's unmerged trace, see `q4_sources`)."""
    for variant in variants[1:]:
        for graph in graphs:
            source = (sources or {}).get((graph, variant), out / graph_file(graph, "fp32"))
            make_variant(source, out / graph_file(graph, variant), graph, variant, int8_ops)


def q4_sources(model: Captioner, shape: LMShape, variants: list[str], path: Path,
               graph: str) -> dict[tuple[str, str], Path]:
    """{(graph, "q4"): path} after tracing the decoder there with LoRA kept as separate
    MatMuls, when q4 is asked for and the LM has LoRA; else {} (q4 from the fp32 graph).

    q4 stores the base weights in 4 bits and LoRA's factors at 8 (distilvit.export.quantize):
    merged, LoRA's update moves every base weight off the 4-bit grid it came on."""
    if "q4" not in variants or not isinstance(model.lm, peft.PeftModel):
        return {}
    export_decoder(causal_lm(copy.deepcopy(model.lm)).float().eval(), shape, path)
    return {(graph, "q4"): path}


def file_sizes(out: Path) -> dict[str, int]:
    """Every file under `out` (relative path -> bytes)."""
    return {str(p.relative_to(out)): p.stat().st_size for p in sorted(out.rglob("*"))
            if p.is_file()}


def merged_language_model(model: Captioner):
    """A float32 copy of the LM with LoRA folded in, in eval mode."""
    lm = merge_lora(copy.deepcopy(model.lm))
    return causal_lm(lm).float().eval()


def export_vision(model: Captioner, path: Path, output: str = "image_features") -> int:
    """Vision tower + pixel shuffle + projector; returns the number of prefix tokens N.

    `output` names the prefix: `image_features` (LLaVA) or `last_hidden_state` (the
    vision-encoder-decoder layout's encoder).
    """
    graph = VisionGraph(model.encoder, model.projector).eval()
    size = model.encoder.tower.config.image_size
    pixels = torch.randn(2, 3, size, size, generator=torch.Generator().manual_seed(0))
    features = graph(pixels)
    _export(graph, (pixels,), path, ["pixel_values"], [output],
            {"pixel_values": {0: "batch_size"}, output: {0: "batch_size"}})
    _fix_output_dims(path, features.shape[1:])
    return features.shape[1]


def _fix_output_dims(path: Path, dims: tuple[int, ...]) -> None:
    """Tracing leaves N and D symbolic after the pixel-shuffle reshapes; they are constants."""
    import onnx

    model = onnx.load(str(path))
    shape = model.graph.output[0].type.tensor_type.shape
    for dim, value in zip(shape.dim[1:], dims, strict=True):
        dim.Clear()
        dim.dim_value = value
    onnx.save(model, str(path))


def export_embed(lm: nn.Module, rows: int, path: Path) -> None:
    graph = EmbedGraph(lm.get_input_embeddings(), rows).eval()
    ids = torch.zeros(2, 3, dtype=torch.long)
    axes = {0: "batch_size", 1: "sequence_length"}
    _export(graph, (ids,), path, ["input_ids"], ["inputs_embeds"],
            {"input_ids": axes, "inputs_embeds": axes})


def export_decoder(lm: nn.Module, shape: LMShape, path: Path) -> None:
    """Traced with a non-empty past and several new tokens, so no shape is specialised."""
    graph = DecoderGraph(conv1d_as_matmul(lm), shape).eval()  # `lm`: start_export's copy
    batch, new, past = 2, 3, 4
    embeds = torch.randn(batch, new, shape.hidden_size)
    mask = torch.ones(batch, past + new, dtype=torch.long)
    positions = torch.arange(past, past + new).expand(batch, -1)
    cache = [torch.randn(batch, shape.num_kv_heads, past, shape.head_dim)
             for _ in range(2 * shape.num_layers)]
    past_names, present_names = shape.cache_names("past_key_values"), shape.cache_names("present")
    axes = {"inputs_embeds": {0: "batch_size", 1: "sequence_length"},
            "attention_mask": {0: "batch_size", 1: "total_sequence_length"},
            "position_ids": {0: "batch_size", 1: "sequence_length"},
            "logits": {0: "batch_size"}}
    axes.update({name: {0: "batch_size", 2: "past_sequence_length"} for name in past_names})
    axes.update({name: {0: "batch_size", 2: "total_sequence_length"} for name in present_names})
    _export(graph, (embeds, mask, positions, *cache), path,
            ["inputs_embeds", "attention_mask", "position_ids", *past_names],
            ["logits", *present_names], axes)


def _export(module, args: tuple, path: Path, inputs: list[str], outputs: list[str],
            axes: dict) -> None:
    torch.onnx.export(module, args, str(path), input_names=inputs, output_names=outputs,
                      dynamic_axes=axes, opset_version=OPSET, dynamo=False)


@contextmanager
def quiet_tracing() -> Iterator[None]:
    """Tracing warns about every Python int it records; the parity check is what we trust."""
    with warnings.catch_warnings():
        for category in (torch.jit.TracerWarning, DeprecationWarning, UserWarning):
            warnings.simplefilter("ignore", category)
        yield
