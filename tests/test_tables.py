"""The token table in 8-bit blocks, stored once with its tied LM head (export/tables.py).

Small hand-built graphs check the mechanism (tied, untied, a hidden size that is not a
multiple of the block); the session's shapes exports check the real graphs of both layouts.
"""

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from distilvit.export import ved
from distilvit.export.quantize import BLOCK, quantize_weights
from distilvit.export.tables import block_quantize
from distilvit.ort.files import graph_file


def _tied_graph(path, vocab: int, hidden: int, tied: bool = True) -> np.ndarray:
    """input_ids -> Gather(table) -> MatMul(head) -> logits, as the VED decoder has them."""
    rng = np.random.default_rng(0)
    table = rng.standard_normal((vocab, hidden)).astype(np.float32)
    head = table.T.copy() if tied else rng.standard_normal((hidden, vocab)).astype(np.float32)
    graph = helper.make_graph(
        [helper.make_node("Gather", ["table", "input_ids"], ["embeds"], name="embed"),
         helper.make_node("MatMul", ["embeds", "head"], ["logits"], name="/lm_head/MatMul")],
        "tied", [helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["b", "t"])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["b", "t", vocab]),
         helper.make_tensor_value_info("embeds", TensorProto.FLOAT, ["b", "t", hidden])],
        [numpy_helper.from_array(table, "table"), numpy_helper.from_array(head, "head")])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)],
                                ir_version=8), str(path))
    return table


def _dequantized(table: np.ndarray) -> np.ndarray:
    """What 8-bit symmetric blocks of BLOCK hold for `table` (zero point 128)."""
    packed, scales = block_quantize(table, BLOCK)
    rows, hidden = table.shape
    values = (packed.reshape(rows, -1).astype(np.float32) - 128) * np.repeat(scales, BLOCK, 1)
    return values[:, :hidden]


def _big_initializers(model, elements: int) -> list:
    """Initializers with at least `elements` values (the table and head are the big ones)."""
    return [t for t in model.graph.initializer if int(np.prod(t.dims)) >= elements]


def _sources(model, name: str) -> set[str]:
    """The initializers a tensor is computed from (through any nodes)."""
    inits = {t.name for t in model.graph.initializer}
    producers = {o: n for n in model.graph.node for o in n.output}
    seen, todo = set(), [name]
    while todo:
        tensor = todo.pop()
        if tensor in inits:
            seen.add(tensor)
        elif tensor in producers:
            todo.extend(producers[tensor].input)
    return seen


def _lookup_and_head(model) -> tuple:
    lookup = next(n for n in model.graph.node if n.op_type == "GatherBlockQuantized")
    heads = [n for n in model.graph.node if n.op_type == "MatMulNBits"
             and next(a.i for a in n.attribute if a.name == "N") == vocab_of(lookup, model)]
    return lookup, heads


def vocab_of(lookup, model) -> int:
    shape = next(t.dims for t in model.graph.initializer if t.name == lookup.input[2])
    return shape[0]


@pytest.mark.parametrize(("hidden", "bits"), [(64, 8), (48, 8), (64, 4)])
def test_tied_table_is_stored_once_and_looks_up_the_heads_values(tmp_path, hidden, bits):
    """48: the last block is partial. 4: the q4 recipe, whose tied head stays at 8 bits."""
    vocab = 50
    table = _tied_graph(tmp_path / "fp32.onnx", vocab, hidden)
    quantize_weights(tmp_path / "fp32.onnx", tmp_path / "q.onnx", ["MatMul", "Gather"], bits)
    model = onnx.load(str(tmp_path / "q.onnx"))
    lookup, heads = _lookup_and_head(model)
    assert len(heads) == 1 and next(a.i for a in heads[0].attribute if a.name == "bits") == 8
    assert _sources(model, lookup.input[0]) == {heads[0].input[1]}  # one weight initializer
    assert lookup.input[2] == heads[0].input[2]  # one scales initializer
    assert len(_big_initializers(model, vocab * hidden)) == 1
    ids = np.array([[0, 7, vocab - 1]], dtype=np.int64)
    logits, embeds = ort.InferenceSession(str(tmp_path / "q.onnx")).run(None, {"input_ids": ids})
    expected = _dequantized(table)
    assert np.array_equal(embeds[0], expected[ids[0]])
    assert np.abs(logits[0] - embeds[0] @ expected.T).max() < 1e-4
    assert np.abs(embeds[0] - table[ids[0]]).max() < np.abs(table).max() / 127


def test_untied_table_gets_the_same_blocks_in_its_own_initializers(tmp_path):
    table = _tied_graph(tmp_path / "fp32.onnx", 40, 64, tied=False)
    quantize_weights(tmp_path / "fp32.onnx", tmp_path / "q.onnx", ["MatMul", "Gather"], 8)
    model = onnx.load(str(tmp_path / "q.onnx"))
    lookup, heads = _lookup_and_head(model)
    assert _sources(model, lookup.input[0]).isdisjoint({heads[0].input[1]})
    ids = np.array([[3, 1]], dtype=np.int64)
    _, embeds = ort.InferenceSession(str(tmp_path / "q.onnx")).run(None, {"input_ids": ids})
    assert np.array_equal(embeds[0], _dequantized(table)[ids[0]])


@pytest.mark.parametrize("variant", ["int8", "q4"])
def test_ved_decoder_stores_the_table_once(shapes_ved_dir, variant):
    """The exported VED decoder: its lookup reads the LM head's weight and scales, and no
    float copy of the table is left (each variant is smaller than with a separate table)."""
    fp32 = onnx.load(str(shapes_ved_dir / graph_file(ved.DECODER, "fp32")))
    table = numpy_helper.to_array(next(t for t in fp32.graph.initializer
                                       if t.name == "ved.embed_tokens.weight"))
    model = onnx.load(str(shapes_ved_dir / graph_file(ved.DECODER, variant)))
    lookup, heads = _lookup_and_head(model)
    assert len(heads) == 1 and "lm_head" in heads[0].name
    assert _sources(model, lookup.input[0]) == {heads[0].input[1]}
    assert lookup.input[2] == heads[0].input[2]
    assert not [n for n in model.graph.node if n.op_type == "Gather"
                and n.input[0] in {t.name for t in model.graph.initializer}]
    big = _big_initializers(model, table.size)
    assert [t.data_type for t in big] == [TensorProto.UINT8]
    weight = numpy_helper.to_array(big[0])
    assert np.array_equal(weight, block_quantize(table, BLOCK)[0])


def test_llava_embed_tokens_holds_the_ved_tables_blocks(shapes_export_dir, shapes_ved_dir):
    """Same 8-bit values in both layouts (the image token's extra row aside), so the two
    look up identical embeddings."""
    embed = onnx.load(str(shapes_export_dir / graph_file("embed_tokens", "int8")))
    decoder = onnx.load(str(shapes_ved_dir / graph_file(ved.DECODER, "int8")))
    lookup, heads = _lookup_and_head(decoder)
    inits = {t.name: numpy_helper.to_array(t) for t in decoder.graph.initializer}
    embed_inits = {t.name: numpy_helper.to_array(t) for t in embed.graph.initializer}
    embed_lookup = next(n for n in embed.graph.node if n.op_type == "GatherBlockQuantized")
    (data,) = _sources(embed, embed_lookup.input[0])
    vocab = inits[heads[0].input[1]].shape[0]
    assert np.array_equal(embed_inits[data][:vocab], inits[heads[0].input[1]])
    assert np.array_equal(embed_inits[embed_lookup.input[2]][:vocab], inits[heads[0].input[2]])
    session = ort.InferenceSession(str(shapes_export_dir / graph_file("embed_tokens", "int8")))
    ids = np.arange(vocab, dtype=np.int64)[None]
    (embeds,) = session.run(None, {"input_ids": ids})
    fp32 = onnx.load(str(shapes_ved_dir / graph_file(ved.DECODER, "fp32")))
    table = next(numpy_helper.to_array(t) for t in fp32.graph.initializer
                 if t.name == "ved.embed_tokens.weight")
    assert np.array_equal(embeds[0], _dequantized(table))
