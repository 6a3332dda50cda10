"""The `base` INT8 export of bench/batch_caption.py and its compute floor.

Floor = matmul FLOPs per image (every linear layer's weights x the tokens through it: patches
in the vision tower, prefix + prompt + new tokens in the language model, new tokens in the LM
head; attention scores and elementwise work left out, so it is a lower bound) / the INT8
matmul rate measured here (ONNX Runtime dynamic quantization, as the INT8 export runs).
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np


def export_base_int8(folder: Path) -> Path:
    """The `base` architecture with random weights, exported with INT8 (reused if present)."""
    from distilvit.ort.files import is_exported

    if not is_exported(folder):
        from distilvit.bases import random_captioner
        from distilvit.config import preset
        from distilvit.export.onnx_export import export_captioner

        export_captioner(random_captioner(preset("base")), folder, quantize="int8")
    return folder


def _linear_weights(module, skip: str = "lora_") -> dict[str, int]:
    import torch

    return {name: m.weight.numel() for name, m in module.named_modules()
            if isinstance(m, torch.nn.Linear) and skip not in name}


def model_flops(new_tokens: int) -> dict[str, float]:
    """GFLOP per image of the `base` captioner for captions of `new_tokens` tokens."""
    import torch

    from distilvit.bases import random_captioner
    from distilvit.config import preset

    model = random_captioner(preset("base"))
    tower = model.encoder.tower.config
    patches = (tower.image_size // tower.patch_size) ** 2
    with torch.inference_mode():
        prefix = model.image_prefix(torch.zeros(1, 3, tower.image_size, tower.image_size))
    vision = sum(_linear_weights(model.encoder).values()) + 3 * tower.patch_size ** 2 * (
        tower.hidden_size)
    projector = sum(_linear_weights(model.projector).values())
    lm = _linear_weights(model.lm)
    head = sum(n for name, n in lm.items() if name.endswith("lm_head"))
    body = sum(lm.values()) - head
    lm_tokens = prefix.shape[1] + 1 + new_tokens
    flops = {"encoder": 2 * vision * patches, "projector": 2 * projector * prefix.shape[1],
             "decoder": 2 * body * lm_tokens + 2 * head * new_tokens}
    return {**{k: v / 1e9 for k, v in flops.items()}, "patches": patches,
            "prefix_tokens": int(prefix.shape[1]), "new_tokens": new_tokens}


def int8_matmul_gflops(rows: int = 256, inner: int = 768, cols: int = 3072,
                       runs: int = 20) -> float:
    """Best-of-`runs` GFLOP/s of an ONNX Runtime dynamically quantized MatMul."""
    import onnx
    import onnxruntime
    from onnx import TensorProto, helper, numpy_helper
    from onnxruntime.quantization import QuantType, quantize_dynamic

    weight = np.random.default_rng(0).standard_normal((inner, cols)).astype(np.float32)
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["y"])], "matmul",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [rows, inner])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [rows, cols])],
        [numpy_helper.from_array(weight, "w")])
    with tempfile.TemporaryDirectory() as tmp:
        fp32, int8 = Path(tmp) / "fp32.onnx", Path(tmp) / "int8.onnx"
        onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), fp32)
        quantize_dynamic(str(fp32), str(int8), weight_type=QuantType.QInt8)
        session = onnxruntime.InferenceSession(str(int8), providers=["CPUExecutionProvider"])
    x = np.random.default_rng(1).standard_normal((rows, inner)).astype(np.float32)
    session.run(None, {"x": x})
    best = float("inf")
    for _ in range(runs):
        start = time.perf_counter()
        session.run(None, {"x": x})
        best = min(best, time.perf_counter() - start)
    return 2 * rows * inner * cols / best / 1e9


def compute_floor(model_folder: Path, new_tokens: int) -> dict[str, float]:
    flops = model_flops(new_tokens)
    total = flops["encoder"] + flops["projector"] + flops["decoder"]
    rate = int8_matmul_gflops()
    return {**flops, "gflop_per_image": total, "int8_gflops": rate,
            "seconds_per_image": total / rate, "model": str(model_folder)}
