"""INT8 and fp16 variants of an fp32 graph, written beside it.

INT8 is onnxruntime's dynamic quantization (weights int8 per output channel, activations
quantized at run time): MatMul weights in the vision encoder and decoder, the embedding table (Gather)
in embed_tokens. Convolutions stay fp32: the only one is SigLIP's patch embedding (small),
and ConvInteger is missing from some runtimes (onnxruntime-web). fp16 converts every float
tensor, inputs and outputs included (what transformers.js's `dtype: "fp16"` feeds).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

logger = logging.getLogger(__name__)

INT8_OPS = {"embed_tokens": ["Gather"], "vision_encoder": ["MatMul"],
            "decoder_model_merged": ["MatMul"]}


def make_variant(source: Path, target: Path, graph: str, variant: str) -> None:
    if variant == "int8":
        quantize_int8(source, target, INT8_OPS[graph])
    elif variant == "fp16":
        convert_fp16(source, target)
    else:
        raise ValueError(f"unknown variant {variant!r} (int8 or fp16)")
    logger.debug("%s: %.1f MB -> %s %.1f MB", source.name, source.stat().st_size / 1e6,
                target.name, target.stat().st_size / 1e6)


def quantize_int8(source: Path, target: Path, op_types: list[str]) -> None:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    # Per-channel scales: lower error than per-tensor on the tiny test models (0.025 vs 0.029
    # max logit diff); reduce_range (7-bit) only helps CPUs without VNNI and cost accuracy here.
    with _root_logger_quiet():
        quantize_dynamic(str(source), str(target), op_types_to_quantize=op_types,
                         weight_type=QuantType.QInt8, per_channel=True)


def convert_fp16(source: Path, target: Path) -> None:
    import onnx
    from onnxruntime.transformers.float16 import convert_float_to_float16

    model = convert_float_to_float16(onnx.load(str(source)), keep_io_types=False)
    onnx.save(model, str(target))


@contextmanager
def _root_logger_quiet() -> Iterator[None]:
    """onnxruntime.quantization logs every skipped tensor on the root logger."""
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        yield
    finally:
        root.setLevel(level)
