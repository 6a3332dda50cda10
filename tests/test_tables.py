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
from distilvit.export.quantize import TABLE_BLOCK, quantize_weights
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
    """What 8-bit symmetric blocks of TABLE_BLOCK hold for `table` (zero point 128)."""
    packed, scales = block_quantize(table, TABLE_BLOCK)
    rows, hidden = table.shape
    values = (packed.reshape(rows, -1).astype(np.float32) - 128) * np.repeat(scales, TABLE_BLOCK, 1)
    return values[:, :hidden]


def _big_initializers(model, elements: int) -> list:
    """Initializers with at least `elements` values (the table and head are the big ones)."""
    return [t for t in model.graph.initializer if int(np.prod(t.dims)) >= elements]


def _gathered(model) -> dict[str, int]:
    """Initializers read by Gather nodes -> their data type."""
    types = {t.name: t.data_type for t in model.graph.initializer}
    return {n.input[0]: types[n.input[0]] for n in model.graph.node
            if n.op_type == "Gather" and n.input[0] in types}


def _heads(model, vocab: int) -> list:
    return [n for n in model.graph.node if n.op_type == "MatMulNBits"
            and next(a.i for a in n.attribute if a.name == "N") == vocab]


def _bits(node) -> int:
    return next(a.i for a in node.attribute if a.name == "bits")


@pytest.mark.parametrize(("hidden", "bits"), [(64, 8), (48, 8), (64, 4)])
def test_tied_table_is_stored_once_and_looks_up_the_heads_values(tmp_path, hidden, bits):
    """48: the last block is partial. 4: the q4 recipe, whose tied head stays at 8 bits."""
    vocab = 50
    table = _tied_graph(tmp_path / "fp32.onnx", vocab, hidden)
    quantize_weights(tmp_path / "fp32.onnx", tmp_path / "q.onnx", ["MatMul", "Gather"], bits)
    model = onnx.load(str(tmp_path / "q.onnx"))
    heads = _heads(model, vocab)
    assert len(heads) == 1 and _bits(heads[0]) == 8
    # the lookup reads the head's weight and scales: one table in the file
    assert _gathered(model) == {heads[0].input[1]: TensorProto.UINT8,
                                heads[0].input[2]: TensorProto.FLOAT}
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
    (head,) = _heads(model, 40)
    assert sorted(_gathered(model).values()) == [TensorProto.FLOAT, TensorProto.UINT8]
    assert set(_gathered(model)).isdisjoint(head.input)
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
    heads = _heads(model, table.shape[0])
    assert len(heads) == 1 and "lm_head" in heads[0].name and _bits(heads[0]) == 8
    assert _gathered(model) == {heads[0].input[1]: TensorProto.UINT8,
                                heads[0].input[2]: TensorProto.FLOAT}
    big = _big_initializers(model, table.size)
    assert [t.data_type for t in big] == [TensorProto.UINT8]
    weight = numpy_helper.to_array(big[0])
    assert np.array_equal(weight, block_quantize(table, TABLE_BLOCK)[0])


def test_llava_embed_tokens_holds_the_ved_tables_blocks(shapes_export_dir, shapes_ved_dir):
    """Same 8-bit values in both layouts (the image token's extra row aside), so the two
    look up identical embeddings."""
    embed = onnx.load(str(shapes_export_dir / graph_file("embed_tokens", "int8")))
    decoder = onnx.load(str(shapes_ved_dir / graph_file(ved.DECODER, "int8")))
    inits = {t.name: numpy_helper.to_array(t) for t in decoder.graph.initializer}
    embed_inits = {t.name: numpy_helper.to_array(t) for t in embed.graph.initializer}
    data, scales = sorted(_gathered(embed), key=lambda name: _gathered(embed)[name] == 1)
    (head,) = [n for n in decoder.graph.node if n.op_type == "MatMulNBits"
               and n.input[1] in _gathered(decoder)]
    vocab = inits[head.input[1]].shape[0]
    assert embed_inits[data].dtype == np.uint8
    assert np.array_equal(embed_inits[data][:vocab], inits[head.input[1]])
    assert np.array_equal(embed_inits[scales][:vocab], inits[head.input[2]])
    session = ort.InferenceSession(str(shapes_export_dir / graph_file("embed_tokens", "int8")))
    ids = np.arange(vocab, dtype=np.int64)[None]
    (embeds,) = session.run(None, {"input_ids": ids})
    fp32 = onnx.load(str(shapes_ved_dir / graph_file(ved.DECODER, "fp32")))
    table = next(numpy_helper.to_array(t) for t in fp32.graph.initializer
                 if t.name == "ved.embed_tokens.weight")
    assert np.array_equal(embeds[0], _dequantized(table))


def test_other_float_gathers_stay_fp16_and_the_lookup_float32(tmp_path):
    """A position table (gathered by positions, not token ids: GPT-2's `wpe`) is converted to
    fp16 as before; the table's scales, gathered by the lookup, stay float32."""
    table = _tied_graph(tmp_path / "tied.onnx", 30, 64)
    model = onnx.load(str(tmp_path / "tied.onnx"))
    positions = np.random.default_rng(1).standard_normal((8, 64)).astype(np.float32)
    model.graph.input.append(
        helper.make_tensor_value_info("position_ids", TensorProto.INT64, ["b", "t"]))
    model.graph.initializer.append(numpy_helper.from_array(positions, "wpe"))
    model.graph.node.append(helper.make_node("Gather", ["wpe", "position_ids"], ["pos"],
                                             name="/wpe/Gather"))
    model.graph.output.append(helper.make_tensor_value_info("pos", TensorProto.FLOAT, None))
    onnx.save(model, str(tmp_path / "fp32.onnx"))
    quantize_weights(tmp_path / "fp32.onnx", tmp_path / "q.onnx", ["MatMul", "Gather"], 8)
    quantized = onnx.load(str(tmp_path / "q.onnx"))
    types = {t.name: t.data_type for t in quantized.graph.initializer}
    assert types["wpe"] == TensorProto.FLOAT16
    (head,) = _heads(quantized, 30)
    assert _gathered(quantized)[head.input[2]] == TensorProto.FLOAT
    ids = np.array([[1, 2]], dtype=np.int64)
    _, embeds, pos = ort.InferenceSession(str(tmp_path / "q.onnx")).run(
        None, {"input_ids": ids, "position_ids": ids})
    assert np.array_equal(embeds[0], _dequantized(table)[ids[0]])
    assert np.abs(pos[0] - positions[ids[0]]).max() < 1e-2
