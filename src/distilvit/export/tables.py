"""The token-embedding table in 8-bit blocks, stored once with the LM head it is tied to.

A tied LM (SmolLM2, GPT-2, ...) uses one matrix twice: rows looked up by token id (a Gather
on `input_ids`) and, transposed, as the LM head (a MatMul). After weight-only quantization
the head is a `MatMulNBits` whose weight is `[V, K/BLOCK, BLOCK]` uint8 with `[V, K/BLOCK]`
float scales: symmetric 8-bit blocks of BLOCK values along the hidden axis, zero point 128.
The lookup reads those two initializers: Gather the token's uint8 rows and its scales, then
`(q - 128) * scale` (Cast, Sub, Mul) and a Reshape to `[.., K]`, the values the head
multiplies with, so the file stores the table once. (onnxruntime-genai's model builder shares
tied embeddings through com.microsoft `GatherBlockQuantized`; its 8-bit kernel is in
onnxruntime 1.32 and onnxruntime-web's plain WASM build, but not in the WebGPU/asyncify build
that transformers.js 4.3.1 loads even for `device: "wasm"`: "Could not find an implementation
for GatherBlockQuantized(1)", checked in Chromium with onnxruntime-web 1.30 and the 1.31-dev
build transformers.js ships. Standard ops run everywhere.)

The table is quantized with onnxruntime's own MatMulNBits block quantizer applied to its
transpose, so its bytes equal the head's whenever the weights are tied: the pair is found by
comparing those bytes, not by node names. A table with no matching head (an untied LM, or
the LLaVA layout's separate `embed_tokens` graph) gets the same 8-bit blocks in initializers
of its own; the two layouts therefore look up identical embedding values.
"""

from __future__ import annotations

import numpy as np

TOKEN_IDS = "input_ids"  # the graph input a token table is gathered with
TABLE_BITS = 8


def block_quantize(table: np.ndarray, block: int) -> tuple[np.ndarray, np.ndarray]:
    """[V, K] float table -> (uint8 [V, ceil(K/block), block], float32 scales [V, K/block]):
    MatMulNBits's symmetric 8-bit layout for the weight `table.T`."""
    from onnxruntime.quantization.matmul_nbits_quantizer import (
        DefaultWeightOnlyQuantConfig,
        DefaultWeightOnlyQuantizer,
    )

    config = DefaultWeightOnlyQuantConfig(block_size=block, is_symmetric=True, bits=TABLE_BITS)
    weight = np.ascontiguousarray(table.astype(np.float32).T)
    packed, scales, _ = DefaultWeightOnlyQuantizer(config).qbits_block_quant(weight)
    return packed, scales


def token_tables(model) -> list[tuple]:
    """(Gather node, table initializer) for each Gather of a 2-D float initializer by the
    graph input `input_ids` (GPT-2's position table is gathered by positions: not one)."""
    from onnx import TensorProto

    inits = {t.name: t for t in model.graph.initializer}
    ids = {i.name for i in model.graph.input} & {TOKEN_IDS}
    found = []
    for node in model.graph.node:
        table = inits.get(node.input[0]) if node.op_type == "Gather" else None
        if (table is not None and node.input[1] in ids and len(table.dims) == 2
                and table.data_type == TensorProto.FLOAT and _axis(node) == 0):
            found.append((node, table))
    return found


def tied_heads(model) -> list[str]:
    """Names of the float MatMuls whose weight is a token table transposed (the tied head)."""
    from onnx import numpy_helper

    tables = [numpy_helper.to_array(t) for _, t in token_tables(model)]
    inits = {t.name: t for t in model.graph.initializer}
    heads = []
    for node in model.graph.node:
        weight = inits.get(node.input[1]) if node.op_type == "MatMul" else None
        if weight is None or len(weight.dims) != 2:
            continue
        shape = tuple(weight.dims[::-1])
        if any(t.shape == shape and np.array_equal(numpy_helper.to_array(weight).T, t)
               for t in tables):
            heads.append(node.name)
    return heads


def block_tables(model, block: int):
    """Every token table (see `token_tables`) to 8 bits in `block`s, looked up with standard
    ops, sharing a tied 8-bit MatMulNBits head's initializers when their bytes are equal."""
    from onnx import helper, numpy_helper

    for gather, table in token_tables(model):
        values = numpy_helper.to_array(table)
        packed, scales = block_quantize(values, block)
        shared = _matching_head(model, packed, scales, block)
        if shared is None:
            shared = (f"{table.name}_Q{TABLE_BITS}", f"{table.name}_scales")
            model.graph.initializer.extend([numpy_helper.from_array(packed, shared[0]),
                                            numpy_helper.from_array(scales, shared[1])])
        nodes = _lookup_nodes(gather, shared, values.shape[1], packed.shape, helper,
                              numpy_helper)
        _replace_node(model, gather, nodes)
        _drop_unused(model, table.name)
    return model


def quantize_table_graph(source, target, block: int) -> None:
    """A lone embedding graph (the LLaVA layout's `embed_tokens`) with its table in 8-bit
    blocks, float32 in and out."""
    import onnx

    model = onnx.load(str(source))
    onnx.save(block_tables(model, block), str(target))


def _matching_head(model, packed: np.ndarray, scales: np.ndarray,
                   block: int) -> tuple[str, str] | None:
    """(weight, scales) initializer names of an 8-bit MatMulNBits head without zero points
    whose bytes are `packed` and `scales`, or None."""
    from onnx import numpy_helper

    inits = {t.name: t for t in model.graph.initializer}
    for node in model.graph.node:
        if node.op_type != "MatMulNBits" or len(node.input) != 3:
            continue
        attrs = {a.name: a.i for a in node.attribute}
        if (attrs.get("bits"), attrs.get("block_size"), attrs.get("N")) != (
                TABLE_BITS, block, packed.shape[0]):
            continue
        weight, node_scales = inits.get(node.input[1]), inits.get(node.input[2])
        if (weight is not None and node_scales is not None
                and np.array_equal(numpy_helper.to_array(weight), packed)
                and np.array_equal(numpy_helper.to_array(node_scales), scales)):
            return node.input[1], node.input[2]
    return None


def _lookup_nodes(gather, shared: tuple[str, str], width: int, packed_shape: tuple[int, ...],
                  helper, numpy_helper) -> list:
    """Rows of the 8-bit weight and their scales by token id, dequantized as MatMulNBits does:
    (q - 128) * scale per block, then [.., blocks * block] with a last partial block's padding
    sliced off (hidden sizes not a multiple of the block)."""
    blocks, block = packed_shape[1], packed_shape[2]
    ids, name = gather.input[1], gather.name or gather.output[0]
    t = f"{name}/q8"  # prefix of every tensor made here
    padded = blocks * block != width
    consts = {f"{t}/zero_point": np.array(128.0, np.float32),
              f"{t}/last": np.array([-1], np.int64), f"{t}/row": np.array([blocks * block])}
    if padded:
        consts.update({f"{t}/start": np.array([0]), f"{t}/width": np.array([width])})
    n = helper.make_node
    nodes = [n("Constant", [], [key], name=key, value=numpy_helper.from_array(value))
             for key, value in consts.items()]
    nodes += [
        n("Gather", [shared[0], ids], [f"{t}/rows"], name=f"{t}/rows"),
        n("Cast", [f"{t}/rows"], [f"{t}/float"], name=f"{t}/cast", to=1),
        n("Sub", [f"{t}/float", f"{t}/zero_point"], [f"{t}/centred"], name=f"{t}/centre"),
        n("Gather", [shared[1], ids], [f"{t}/scales"], name=f"{t}/scales"),
        n("Unsqueeze", [f"{t}/scales", f"{t}/last"], [f"{t}/scales4"], name=f"{t}/unsqueeze"),
        n("Mul", [f"{t}/centred", f"{t}/scales4"], [f"{t}/blocks"], name=f"{t}/scale"),
        n("Shape", [ids], [f"{t}/ids_shape"], name=f"{t}/ids_shape"),
        n("Concat", [f"{t}/ids_shape", f"{t}/row"], [f"{t}/shape"], name=f"{t}/shape", axis=0),
        n("Reshape", [f"{t}/blocks", f"{t}/shape"],
          [f"{t}/padded" if padded else gather.output[0]], name=f"{t}/reshape")]
    if padded:
        nodes.append(n("Slice", [f"{t}/padded", f"{t}/start", f"{t}/width", f"{t}/last"],
                       [gather.output[0]], name=f"{t}/slice"))
    return nodes


def _replace_node(model, old, new: list) -> None:
    nodes = list(model.graph.node)
    at = next(i for i, n in enumerate(nodes) if n is old or n == old)
    nodes[at:at + 1] = new
    del model.graph.node[:]
    model.graph.node.extend(nodes)


def _drop_unused(model, name: str) -> None:
    """Remove initializer `name` when no node reads it any more."""
    if any(name in n.input for n in model.graph.node):
        return
    keep = [t for t in model.graph.initializer if t.name != name]
    del model.graph.initializer[:]
    model.graph.initializer.extend(keep)


def _axis(node) -> int:
    return next((a.i for a in node.attribute if a.name == "axis"), 0)
