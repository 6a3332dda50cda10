"""The q4 recipe's 4-bit blocks (distilvit.export.quantize), on one-MatMul graphs."""

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

from distilvit.export.quantize import BLOCK, FOUR_BIT_BLOCK, TABLE_BLOCK, quantize_weights

K, N = 96, 40
MLP = "/model/layers.0/mlp/down_proj/base_layer/MatMul"
EIGHT_BIT = ["/lm_head/MatMul", "/model/layers.0/mlp/down_proj/default/MatMul"]


def q4_1_grid(rng: np.random.Generator) -> np.ndarray:
    """[K, N] weights as GGUF's Q4_1 stores them: per block of FOUR_BIT_BLOCK rows of a column,
    min + d * q with q in 0..15 using both ends, float min and d."""
    q = rng.integers(0, 16, (K // FOUR_BIT_BLOCK, FOUR_BIT_BLOCK, N))
    q[:, 0], q[:, 1] = 0, 15
    d = rng.uniform(1e-3, 2e-2, (K // FOUR_BIT_BLOCK, 1, N))
    low = rng.uniform(-0.2, 0.0, (K // FOUR_BIT_BLOCK, 1, N))
    return (low + d * q).astype(np.float32).reshape(K, N)


def one_matmul(path, name: str, weight: np.ndarray, with_base: bool = True) -> None:
    """y = x @ weight (node `name`), beside z = x @ a LoRA base weight (node MLP) unless
    `with_base` is False."""
    nodes = [helper.make_node("MatMul", ["x", "w"], ["y"], name=name)]
    if name != MLP and with_base:
        nodes.append(helper.make_node("MatMul", ["x", "base"], ["z"], name=MLP))
    rows = weight.shape[0]
    graph = helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", rows])],
        [helper.make_tensor_value_info(out, TensorProto.FLOAT, ["batch", N])
         for out in ("y", "z")[:len(nodes)]],
        [numpy_helper.from_array(weight, "w"),
         numpy_helper.from_array(weight + 1, "base")][:len(nodes)])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))


def run(path, x: np.ndarray) -> list[np.ndarray]:
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"x": x})


def relative_error(tmp_path, name: str, weight: np.ndarray, bits: int) -> tuple[float, int]:
    """(||q - fp32|| / ||fp32|| of the output, the bits of node `name`'s MatMulNBits), in a
    graph that also holds a LoRA layer's base weight (so LoRA is kept unmerged there)."""
    x = np.random.default_rng(1).standard_normal((4, K)).astype(np.float32)
    one_matmul(tmp_path / "fp32.onnx", name, weight)
    quantize_weights(tmp_path / "fp32.onnx", tmp_path / "q.onnx", ["MatMul"], bits)
    node = next(n for n in onnx.load(str(tmp_path / "q.onnx")).graph.node
                if n.name.startswith(name))
    reference = run(tmp_path / "fp32.onnx", x)[0]
    error = np.linalg.norm(run(tmp_path / "q.onnx", x)[0] - reference) / np.linalg.norm(reference)
    return float(error), next(a.i for a in node.attribute if a.name == "bits")


def test_q4_re_encodes_q4_1_mlp_weights_without_loss(tmp_path):
    """A GGUF Q4_1 LM's MLP weights (SmolLM2's are) keep their values in q4: the blocks are
    min-max with a float zero point, not an integer one (8% error per weight on SmolLM2)."""
    error, bits = relative_error(tmp_path, MLP, q4_1_grid(np.random.default_rng(0)), 4)
    assert bits == 4 and error < 1e-5


def test_q4_keeps_the_lm_head_and_lora_at_eight_bits(tmp_path):
    """The LM head (Q8_0 in GGUF) and LoRA's factors (on no grid; traced as `.../default/`
    beside a `base_layer`) are stored as int8 stores them; a base weight off any grid does
    lose precision in 4 bits."""
    weight = np.random.default_rng(2).standard_normal((K, N)).astype(np.float32)
    for name in EIGHT_BIT:
        q4 = relative_error(tmp_path, name, weight, 4)
        assert q4[1] == 8 and q4 == relative_error(tmp_path, name, weight, 8)
    error, bits = relative_error(tmp_path, MLP, weight, 4)
    assert bits == 4 and 1e-3 < error < 0.2


def test_int8_blocks_the_head_as_the_table_and_other_weights_coarser(tmp_path):
    """8-bit weights get one scale per BLOCK rows; the LM head per TABLE_BLOCK, the token
    table's block (GGUF's Q8_0), whether it is tied or only named `lm_head`."""
    weight = np.random.default_rng(3).standard_normal((K, N)).astype(np.float32)
    one_matmul(tmp_path / "fp32.onnx", EIGHT_BIT[0], weight)
    quantize_weights(tmp_path / "fp32.onnx", tmp_path / "q.onnx", ["MatMul"], 8)
    blocks = {node.name.split("_Q")[0]: next(a.i for a in node.attribute
                                             if a.name == "block_size")
              for node in onnx.load(str(tmp_path / "q.onnx")).graph.node}
    assert blocks == {EIGHT_BIT[0]: TABLE_BLOCK, MLP: BLOCK} and TABLE_BLOCK < BLOCK


def test_a_rank_16_factor_is_not_padded_to_a_whole_block(tmp_path):
    """LoRA's up factor has 16 input rows: stored in one block of 16, not padded to BLOCK."""
    weight = np.random.default_rng(4).standard_normal((16, N)).astype(np.float32)
    one_matmul(tmp_path / "fp32.onnx", "/up/default_1/MatMul", weight, with_base=False)
    quantize_weights(tmp_path / "fp32.onnx", tmp_path / "q.onnx", ["MatMul"], 8)
    (node,) = onnx.load(str(tmp_path / "q.onnx")).graph.node
    packed = next(t for t in onnx.load(str(tmp_path / "q.onnx")).graph.initializer
                  if t.data_type == TensorProto.UINT8)
    assert next(a.i for a in node.attribute if a.name == "block_size") == 16
    assert np.prod(packed.dims) == 16 * N
    x = np.random.default_rng(5).standard_normal((3, 16)).astype(np.float32)
    got, want = run(tmp_path / "q.onnx", x)[0], x @ weight
    assert np.linalg.norm(got - want) / np.linalg.norm(want) < 1e-2
