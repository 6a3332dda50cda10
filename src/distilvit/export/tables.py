"""The token-embedding table in 8-bit blocks, stored once with the LM head it is tied to.

A tied LM (SmolLM2, GPT-2, ...) uses one matrix twice: rows looked up by token id (a Gather
on `input_ids`) and, transposed, as the LM head (a MatMul). After weight-only quantization
the head is a `MatMulNBits` whose weight is `[V, K/BLOCK, BLOCK]` uint8 with `[V, K/BLOCK]`
scales: one symmetric 8-bit block of BLOCK values along the hidden axis per row. Those are
exactly the operands of com.microsoft `GatherBlockQuantized` (bits=8, quantize_axis=1,
block_size=BLOCK) over a `[V, K]` table, so the lookup reads the head's own initializers
through a Reshape (folded by onnxruntime at load) and the file stores the table once. Both
ops leave the zero point out, which means 128 for 8-bit uint8 data in both (checked in
onnxruntime 1.32 and onnxruntime-web 1.30's WASM build, and the 1.31 build transformers.js
4.3.1 ships). The same technique is onnxruntime-genai's model builder's for tied embeddings.

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
    """Every token table (see `token_tables`) to GatherBlockQuantized, 8 bits in `block`s,
    sharing a tied 8-bit MatMulNBits head's initializers when their bytes are equal."""
    from onnx import helper, numpy_helper

    for gather, table in token_tables(model):
        values = numpy_helper.to_array(table)
        packed, scales = block_quantize(values, block)
        shared = _matching_head(model, packed, scales, block)
        if shared is None:
            shared = (f"{table.name}_Q{TABLE_BITS}", f"{table.name}_scales")
            model.graph.initializer.extend([numpy_helper.from_array(packed, shared[0]),
                                            numpy_helper.from_array(scales, shared[1])])
        nodes = _lookup_nodes(gather, shared, values.shape, packed.shape, block, helper,
                              numpy_helper)
        _replace_node(model, gather, nodes)
        _drop_unused(model, table.name)
    if not any(o.domain == "com.microsoft" for o in model.opset_import):
        model.opset_import.append(helper.make_opsetid("com.microsoft", 1))
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


def _lookup_nodes(gather, shared: tuple[str, str], table_shape: tuple[int, int],
                  packed_shape: tuple[int, ...], block: int, helper, numpy_helper) -> list:
    """Reshape [V, blocks, block] -> [V, blocks * block], Slice off the padding of a last
    partial block (hidden sizes not a multiple of `block`), GatherBlockQuantized."""
    rows, width = table_shape
    padded = packed_shape[1] * packed_shape[2]
    name = gather.name or gather.output[0]
    data = f"{shared[0]}/table"
    consts = {f"{data}/shape": [rows, padded], f"{data}/zero": [0], f"{data}/width": [width],
              f"{data}/axis": [1]}
    nodes = [helper.make_node("Constant", [], [key], name=key,
                              value=numpy_helper.from_array(np.array(v, np.int64)))
             for key, v in consts.items()]
    nodes.append(helper.make_node("Reshape", [shared[0], f"{data}/shape"], [data],
                                  name=f"{name}/reshape"))
    if padded != width:
        nodes.append(helper.make_node("Slice", [data, f"{data}/zero", f"{data}/width",
                                                f"{data}/axis"], [f"{data}/sliced"],
                                      name=f"{name}/slice"))
        data = f"{data}/sliced"
    nodes.append(helper.make_node(
        "GatherBlockQuantized", [data, gather.input[1], shared[1]], list(gather.output),
        name=f"{name}_Q{TABLE_BITS}", domain="com.microsoft", bits=TABLE_BITS,
        block_size=block, gather_axis=0, quantize_axis=1))
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
