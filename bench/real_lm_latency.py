"""`bench/export_latency.py --real-lm MODEL_DIR`: a trained real-LM captioner's export, timed
with its own captions (ending at EOS) on shapes test scenes."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import onnxruntime
import torch

from distilvit.config import GenerationConfig, ShapesConfig
from distilvit.data.synthetic import make_example
from distilvit.generate import generate_ids
from distilvit.ort import OnnxCaptioner
from distilvit.ort.files import is_exported, variants_in
from distilvit.tokens import until_eos

SCENES = 4  # shapes test scenes, captioned one at a time per call
VARIANTS = ("fp32", "int8", "q4")  # fp16 is for GPUs/WebGPU: slow on CPU


def export_real_lm(model, folder: Path) -> list[str]:
    """Every variant of `model` in `folder` (an earlier export there is reused)."""
    from distilvit.export.onnx_export import export_captioner

    if not (is_exported(folder) and all(v in variants_in(folder) for v in VARIANTS)):
        export_captioner(model, folder, quantize="all")
    return variants_in(folder)


def measure_real_lm(model_dir: Path, folder: Path, runs: int, interleaved: Callable,
                    sizes: Callable) -> dict:
    from distilvit.model import Captioner

    model = Captioner.from_pretrained(model_dir)
    variants = export_real_lm(model, folder)
    gen = GenerationConfig(max_new_tokens=model.config.generation.max_new_tokens)
    images = [make_example("test", i, ShapesConfig()).image for i in range(SCENES)]
    pixels = [model.preprocess([image]) for image in images]
    onnx = {v: OnnxCaptioner(folder, v) for v in VARIANTS}
    arrays = [p.numpy() for p in pixels]
    eos = model.format.eos_id
    runtimes = {"torch fp32": lambda: [generate_ids(model, p, gen) for p in pixels],
                **{f"ort {v}": (lambda v=v: [onnx[v].generate_ids(a, gen) for a in arrays])
                   for v in VARIANTS}}
    tokens = {name: sum(len(until_eos(ids[0].tolist(), eos)) + 1 for ids in call()) / SCENES
              for name, call in runtimes.items()}  # + 1: the EOS step itself
    with torch.inference_mode():
        total = interleaved(runtimes, runs)
    latency = {k: {"caption_ms": total[k] / SCENES, "mean_new_tokens": tokens[k]}
               for k in runtimes}
    return {"architecture": f"real LM ({model.config.decoder.name_or_path}), tiny tower",
            "model_dir": str(model_dir), "device": "cpu",
            "torch_threads": torch.get_num_threads(), "onnxruntime": onnxruntime.__version__,
            "runs": runs, "batch": 1, "scenes": SCENES, "load_average": os.getloadavg(),
            "sizes_mb": sizes(folder, variants), "latency": latency,
            "max_new_tokens": gen.max_new_tokens}


def print_real_lm(report: dict) -> None:
    print(f"{report['architecture']}; batch 1, {report['scenes']} shapes scenes, captions end "
          f"at EOS (max {report['max_new_tokens']}); median of {report['runs']} rounds; load "
          f"average {report['load_average'][0]:.1f}")
    for variant, row in report["sizes_mb"].items():
        print(f"  {variant:<6}{row['total']:>9.1f} MB")
    print(f"{'runtime':<14}{'ms/caption':>12}{'new tokens':>12}")
    for name, row in report["latency"].items():
        print(f"{name:<14}{row['caption_ms']:>12.1f}{row['mean_new_tokens']:>12.1f}")
