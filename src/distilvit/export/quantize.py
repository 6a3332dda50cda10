"""INT8, 4-bit and fp16 variants of an fp32 graph, written beside it.

INT8 is onnxruntime's dynamic quantization (weights int8 per output channel, activations
quantized at run time): MatMul weights in the vision encoder and decoder, the embedding table (Gather)
in embed_tokens. Convolutions stay fp32: the only one is SigLIP's patch embedding (small),
and ConvInteger is missing from some runtimes (onnxruntime-web). fp16 converts every float
tensor, inputs and outputs included, except `pixel_values`: transformers.js's image
processors always make float32 pixels and it feeds them without a cast (checked with 4.3.1:
an fp16 `pixel_values` input fails with "Unexpected input data type"), so the vision graphs
take float32 pixels and cast them inside. The cache, embeddings and logits are fp16, which
transformers.js handles (it makes the empty cache in the graph's type and reads fp16 logits).

q4 (transformers.js's `dtype: "q4"`, files `*_q4.onnx`) stores the decoder's MatMul weights in
4 bits, symmetric, one fp32 scale per block of `Q4_BLOCK` input rows (ONNX Runtime's
`MatMulNBits`, which onnxruntime-web runs too): 5 bits a weight against INT8's 8. The vision
graph and the embedding tables (Gather) are quantized as in the int8 variant: on the trained
tiny model a 4-bit vision tower cost 2.8 points of attribute accuracy, a 4-bit decoder 0.2.
It exists for size: INT8 cannot go below ~1 byte per weight, and the layout stores the tied
embedding table twice (embed_tokens and the LM head).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

logger = logging.getLogger(__name__)

INT8_OPS = {"embed_tokens": ["Gather"], "vision_encoder": ["MatMul"],
            "decoder_model_merged": ["MatMul"]}
Q4_BLOCK = 32  # rows per scale: the usual choice (transformers.js's q4 models use 32)
FOUR_BIT_GRAPHS = {"decoder_model_merged"}  # the other graphs of a q4 variant are INT8
FLOAT32_INPUTS = ["pixel_values"]  # kept float32 in the fp16 variants (see above)


def make_variant(source: Path, target: Path, graph: str, variant: str,
                 int8_ops: dict[str, list[str]] | None = None) -> None:
    """`int8_ops` maps graph name -> op types to quantize (default: the LLaVA layout's)."""
    if variant == "int8":
        quantize_int8(source, target, (int8_ops or INT8_OPS)[graph])
    elif variant == "q4" and graph in FOUR_BIT_GRAPHS:
        quantize_q4(source, target, (int8_ops or INT8_OPS)[graph])
    elif variant == "q4":
        quantize_int8(source, target, (int8_ops or INT8_OPS)[graph])
    elif variant == "fp16":
        convert_fp16(source, target)
    else:
        raise ValueError(f"unknown variant {variant!r} (int8, q4 or fp16)")
    logger.debug("%s: %.1f MB -> %s %.1f MB", source.name, source.stat().st_size / 1e6,
                target.name, target.stat().st_size / 1e6)


def quantize_int8(source: Path, target: Path, op_types: list[str]) -> None:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    # Per-channel scales: lower error than per-tensor on the tiny test models (0.025 vs 0.029
    # max logit diff); reduce_range (7-bit) only helps CPUs without VNNI and cost accuracy here.
    with _root_logger_quiet():
        quantize_dynamic(str(source), str(target), op_types_to_quantize=op_types,
                         weight_type=QuantType.QInt8, per_channel=True)


def quantize_q4(source: Path, target: Path, op_types: list[str]) -> None:
    """MatMul weights to 4 bits (MatMulNBits); any Gather in `op_types` to INT8 afterwards."""
    import onnx
    from onnxruntime.quantization.matmul_nbits_quantizer import (
        DefaultWeightOnlyQuantConfig,
        MatMulNBitsQuantizer,
    )

    gathers = [op for op in op_types if op == "Gather"]
    config = DefaultWeightOnlyQuantConfig(block_size=Q4_BLOCK, is_symmetric=True, bits=4)
    with _root_logger_quiet():
        quantizer = MatMulNBitsQuantizer(onnx.load(str(source)), algo_config=config)
        quantizer.process()
    quantizer.model.save_model_to_file(str(target), use_external_data_format=False)
    if gathers:
        quantize_int8(target, target, gathers)


def convert_fp16(source: Path, target: Path) -> None:
    import onnx
    from onnxruntime.transformers.float16 import convert_float_to_float16

    model = onnx.load(str(source))
    keep = [i.name for i in model.graph.input if i.name in FLOAT32_INPUTS]
    model = convert_float_to_float16(model, keep_io_types=keep or False)
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
