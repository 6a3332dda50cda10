"""ONNX export at the `base` architecture (random weights): file sizes and caption latency.

Sizes of every graph in every variant (fp32, INT8, q4, fp16). Latency at batch 1 from pixel
values to 20 new tokens (min = max = 20, so no run stops early), greedy with the KV cache:
torch fp32 (HF generate), ONNX Runtime fp32, INT8 and q4 (our numpy decoding loop);
the baseline is the original design's torch `generate` (linear projector over all 196
patches, 3 beams, sampling, top-p 0.9) as in bench/generate_latency.py. Each figure is the
median of `--runs` rounds after one warm-up, every runtime timed once per round (the
machine is shared: interleaving spreads load changes over all of them). `ratio` = baseline
/ ORT INT8. The load average at the end is recorded with the figures.

`--real-lm MODEL_DIR` measures a captioner trained on real LM weights instead (the tiny tower +
SmolLM2-135M, docs/training.md): exported with every variant (or the export in `--keep`,
reused), each runtime captions shapes test scenes one at a time with the model's own
generation settings, so captions end at EOS as a trained model's do (the mean number of new
tokens is reported); no baseline.

    python bench/export_latency.py [--runs 5] [--json out.json] [--keep DIR] [--real-lm DIR]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

import onnxruntime
import torch

from bench_io import write_json
from distilvit.bases import random_captioner
from distilvit.config import GenerationConfig, preset
from distilvit.export.onnx_export import export_captioner
from distilvit.export.verify import verify_export
from distilvit.generate import generate_ids
from distilvit.ort import OnnxCaptioner
from distilvit.ort.files import GRAPHS, graph_file
from generate_latency import DESIGNS, NEW_TOKENS

GREEDY = GenerationConfig(max_new_tokens=NEW_TOKENS, min_new_tokens=NEW_TOKENS)


def sizes(folder: Path, variants: list[str]) -> dict[str, dict[str, float]]:
    """MB per graph per variant, with each variant's total."""
    table = {}
    for variant in variants:
        row = {g: (folder / graph_file(g, variant)).stat().st_size / 1e6 for g in GRAPHS}
        table[variant] = {**row, "total": sum(row.values())}
    return table


def interleaved(calls: dict[str, Callable[[], object]], runs: int) -> dict[str, float]:
    """Median ms per call, timing the calls in turn each round.

    On a shared machine the load changes over minutes; taking every runtime in each round
    spreads that noise over all of them instead of whichever happened to run then.
    """
    for call in calls.values():
        call()  # warm-up
    samples: dict[str, list[float]] = {name: [] for name in calls}
    for _ in range(runs):
        for name, call in calls.items():
            start = time.perf_counter()
            call()
            samples[name].append((time.perf_counter() - start) * 1000)
    return {name: statistics.median(values) for name, values in samples.items()}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--json", type=Path, help="write the figures here")
    parser.add_argument("--keep", type=Path, help="export here (kept) instead of a temp dir")
    parser.add_argument("--real-lm", type=Path, metavar="MODEL_DIR",
                        help="a captioner trained on real LM weights (e.g. SmolLM2): its "
                             "captions, ending at EOS, instead of the random base model's")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        folder = args.keep or Path(tmp)
        if args.real_lm:
            from real_lm_latency import measure_real_lm, print_real_lm

            report = measure_real_lm(args.real_lm, folder, args.runs, interleaved, sizes)
            print_real_lm(report)
            write_json(report, args.json)
            return report
        report = measure(folder, args.runs)
    print_table(report)
    write_json(report, args.json)
    return report


def measure(folder: Path, runs: int) -> dict:
    model = random_captioner(preset("base"))
    result = export_captioner(model, folder, quantize="all")
    # fp16 is for GPUs/WebGPU: on CPU it is slow and its latency is not a figure of interest.
    verification = verify_export(model, folder, variants=["fp32", "int8", "q4"])
    original_preset, original_gen = DESIGNS["original"]
    baseline = random_captioner(preset(original_preset))
    onnx = {v: OnnxCaptioner(folder, v) for v in ("fp32", "int8", "q4")}
    pixels = torch.randn(1, 3, 224, 224, generator=torch.Generator().manual_seed(0))
    array = pixels.numpy()
    runtimes = {  # name -> (image prefix only, whole caption)
        "torch fp32": (lambda: model.image_prefix(pixels),
                       lambda: generate_ids(model, pixels, GREEDY)),
        "ort fp32": (lambda: onnx["fp32"].image_prefix(array),
                     lambda: onnx["fp32"].generate_ids(array, GREEDY)),
        "ort int8": (lambda: onnx["int8"].image_prefix(array),
                     lambda: onnx["int8"].generate_ids(array, GREEDY)),
        "ort q4": (lambda: onnx["q4"].image_prefix(array),
                   lambda: onnx["q4"].generate_ids(array, GREEDY)),
        "baseline (original)": (lambda: baseline.image_prefix(pixels),
                                lambda: generate_ids(baseline, pixels, original_gen)),
    }
    with torch.inference_mode():
        encoder = interleaved({k: v[0] for k, v in runtimes.items()}, runs)
        total = interleaved({k: v[1] for k, v in runtimes.items()}, runs)
    latency = {k: {"encoder_ms": encoder[k], "total_ms": total[k]} for k in runtimes}
    table = sizes(folder, result.variants)
    return {"device": "cpu", "torch_threads": torch.get_num_threads(),
            "onnxruntime": onnxruntime.__version__, "runs": runs, "batch": 1,
            "new_tokens": NEW_TOKENS, "prefix_tokens": result.prefix_tokens,
            "load_average": os.getloadavg(), "sizes_mb": table, "latency": latency,
            "verification": {c.variant: {"max_logit_diff": c.max_logit_diff,
                                         "greedy_agreement": c.agreement}
                             for c in verification.checks},
            "verification_images": len(verification.images),
            "int8_total_mb": table["int8"]["total"], "q4_total_mb": table["q4"]["total"],
            "ratio": latency["baseline (original)"]["total_ms"]
            / latency["ort int8"]["total_ms"],
            "generation": asdict(GREEDY)}


def print_table(report: dict) -> None:
    print(f"base architecture, random weights; batch 1, {report['new_tokens']} new tokens, "
          f"{report['prefix_tokens']} prefix tokens; torch {report['torch_threads']} threads, "
          f"onnxruntime {report['onnxruntime']}; median of {report['runs']} rounds; load "
          f"average {report['load_average'][0]:.1f}")
    print(f"{'variant':<8}" + "".join(f"{g:>22}" for g in GRAPHS) + f"{'total MB':>10}")
    for variant, row in report["sizes_mb"].items():
        print(f"{variant:<8}" + "".join(f"{row[g]:>22.1f}" for g in GRAPHS)
              + f"{row['total']:>10.1f}")
    print(f"{'runtime':<22}{'encoder ms':>12}{'total ms':>10}")
    for name, row in report["latency"].items():
        print(f"{name:<22}{row['encoder_ms']:>12.1f}{row['total_ms']:>10.1f}")
    for variant, row in report["verification"].items():
        print(f"parity {variant}: max |logit diff| {row['max_logit_diff']:.2e}, greedy "
              f"agreement {row['greedy_agreement']:.0%} on {report['verification_images']} "
              "images")
    print(f"ratio (baseline / ORT INT8): {report['ratio']:.2f}x; INT8 download "
          f"{report['int8_total_mb']:.1f} MB, q4 download {report['q4_total_mb']:.1f} MB")


if __name__ == "__main__":
    main()
