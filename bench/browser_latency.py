"""Caption latency in headless Chromium (WASM, 1 and 2 threads) against Python ONNX Runtime.

The `base` architecture (SigLIP-base/16-224 + SmolLM-135M shapes) with random weights is
built and exported as bench/export_latency.py does (`random_captioner`, `export_captioner`),
INT8. One 640x480 photo-like image, already decoded, is captioned with 20 new tokens
(min = max = 20: no run stops early) by the web module in Chromium on a cross-origin isolated
page (one page per thread count; model files not cached), and by `OnnxCaptioner` on the
same folder. Python is timed before and after the browser (half the runs each) so that a
change of load on a shared machine shows in both; every figure is a median after a warm-up.
`ratio` = browser 2-thread time / Python ORT time. Load averages are recorded.

`--real-lm EXPORT_DIR` times an export of a captioner trained on real LM weights (the tiny
tower + SmolLM2-135M, `bench/export_latency.py --real-lm ... --keep EXPORT_DIR` writes one)
on a shapes test scene with the model's own generation settings: the caption ends at EOS as a
trained model's does (the number of new tokens is reported).

    python bench/browser_latency.py [--runs 6] [--variant int8|q4] [--json out.json] [--keep DIR]
        [--real-lm EXPORT_DIR]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import onnxruntime
from PIL import Image

from bench_io import write_json
from distilvit.config import GenerationConfig
from export_latency import GREEDY

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from browser_harness import ORT_DIST, SCRIPTS, WEB_DIR, browser_missing, run_script, serve  # noqa: E402

THREADS = (1, 2)


def photo(path: Path) -> Image.Image:
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:480, 0:640]
    pixels = np.dstack([x * 255 / 640, y * 255 / 480, (x + y) % 160]) + rng.normal(0, 10, (480, 640, 3))
    image = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))
    image.save(path)
    return image


def export_base(folder: Path, variant: str) -> None:
    """The base architecture with random weights, exported with INT8 (kept if already there)."""
    from distilvit.bases import random_captioner
    from distilvit.config import preset
    from distilvit.export.onnx_export import export_captioner
    from distilvit.ort.files import variants_in

    if folder.is_dir() and variant in variants_in(folder):
        return
    export_captioner(random_captioner(preset("base")), folder, quantize=variant)


def scene(path: Path) -> Image.Image:
    """A shapes test scene at the tiny tower's size (what a real-LM captioner was trained on)."""
    from distilvit.config import ShapesConfig
    from distilvit.data.synthetic import make_example

    image = make_example("test", 0, ShapesConfig()).image
    image.save(path)
    return image


def python_ms(folder: Path, image: Image.Image, runs: int, threads: int,
              variant: str, gen: GenerationConfig = GREEDY) -> list[float]:
    from distilvit.ort import OnnxCaptioner

    model = OnnxCaptioner(folder, variant, threads=threads)
    model.caption(image, gen)  # warm-up
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        model.caption(image, gen)
        samples.append((time.perf_counter() - start) * 1000)
    return samples


def browser_runs(folder: Path, image: Path, runs: int, workdir: Path, variant: str,
                 gen: GenerationConfig = GREEDY) -> dict:
    generation = {"maxNewTokens": gen.max_new_tokens, "minNewTokens": gen.min_new_tokens}
    mounts = {"/": WEB_DIR, "/ort/": ORT_DIST, "/model/": folder, "/tests/": SCRIPTS / "pages",
              "/images/": image.parent}
    with serve(mounts, isolated=True) as server:
        return run_script(SCRIPTS / "latency.mjs",
                          {"url": f"{server.url}/tests/module.html", "model": "/model/",
                           "dtype": variant, "image": f"/images/{image.name}",
                           "threads": list(THREADS), "runs": runs, "generation": generation},
                          workdir, timeout=590)


def summary(samples: list[dict]) -> dict:
    median = lambda key: statistics.median(s[key] for s in samples)  # noqa: E731
    return {"total_ms": median("totalMs"), "preprocess_ms": median("preprocessMs"),
            "encoder_ms": median("encodeMs") - median("preprocessMs"),
            "prefill_ms": median("prefillMs"), "ms_per_token": median("perTokenMs"),
            "new_tokens": samples[0]["newTokens"]}


def measure(folder: Path, runs: int, python_threads: int, workdir: Path,
            variant: str = "int8", real_lm: bool = False) -> dict:
    if real_lm:  # the export's own generation settings: captions end at EOS
        from distilvit.ort import OnnxCaptioner

        gen = OnnxCaptioner(folder, variant).generation
        image_path = workdir / "scene.png"
        image = scene(image_path)
    else:
        export_base(folder, variant)
        gen = GREEDY
        image_path = workdir / "photo.png"
        image = photo(image_path)
    loads = [os.getloadavg()]
    python = python_ms(folder, image, (runs + 1) // 2, python_threads, variant, gen)
    loads.append(os.getloadavg())
    browser = browser_runs(folder, image_path, runs, workdir, variant, gen)
    loads.append(os.getloadavg())
    python += python_ms(folder, image, runs // 2, python_threads, variant, gen)
    loads.append(os.getloadavg())
    rows = {f"browser wasm {t} thread{'s' * (t > 1)}": {**summary(browser[str(t)]["samples"]),
                                                        "threads": browser[str(t)]["info"]["threads"],
                                                        "workers": browser[str(t)]["workers"]}
            for t in THREADS}
    python_total = statistics.median(python)
    return {"architecture": ("tiny tower + real LM (trained)" if real_lm
                             else "base (random weights)"), "variant": variant, "runs": runs,
            "image": ("96x96 shapes test scene" if real_lm else "640x480 RGB") + ", decoded once",
            "generation": asdict(gen),
            "python_ort": {"total_ms": python_total, "samples_ms": python,
                           "threads": python_threads or "onnxruntime default",
                           "onnxruntime": onnxruntime.__version__},
            "browser": rows, "load_average_1m": [round(la[0], 2) for la in loads],
            "cpu_count": os.cpu_count(),
            "ratio": rows["browser wasm 2 threads"]["total_ms"] / python_total}


def print_table(report: dict) -> None:
    tokens = next(iter(report["browser"].values()))["new_tokens"]
    print(f"{report['architecture']}, {report['variant']}; {tokens} new tokens; median of "
          f"{report['runs']} runs; {report['cpu_count']} CPUs; load average (1 min) during the run "
          f"{report['load_average_1m']}")
    print(f"{'runtime':<26}{'total ms':>10}{'encoder ms':>12}{'prefill ms':>12}{'ms/token':>10}")
    for name, row in report["browser"].items():
        print(f"{name:<26}{row['total_ms']:>10.1f}{row['encoder_ms']:>12.1f}"
              f"{row['prefill_ms']:>12.1f}{row['ms_per_token']:>10.1f}")
    print(f"{'python onnxruntime':<26}{report['python_ort']['total_ms']:>10.1f}")
    print(f"ratio (browser 2 threads / python ORT): {report['ratio']:.2f}x")


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=6)
    parser.add_argument("--variant", choices=("int8", "q4"), default="int8",
                        help="exported graphs both runtimes run (q4: 4-bit decoder weights)")
    parser.add_argument("--json", type=Path, help="write the figures here")
    parser.add_argument("--keep", type=Path, help="export here (reused if already there)")
    parser.add_argument("--real-lm", type=Path, metavar="EXPORT_DIR",
                        help="an export of a captioner trained on real LM weights: its "
                             "captions (ending at EOS) on a shapes scene")
    parser.add_argument("--python-threads", type=int, default=2,
                        help="onnxruntime intra-op threads for the Python side (0 = its default)")
    args = parser.parse_args(argv)
    missing = browser_missing()
    if missing:
        sys.exit(f"error: cannot run the browser: {missing}")
    with tempfile.TemporaryDirectory() as tmp:
        folder = args.real_lm or args.keep or Path(tmp) / "base-onnx"
        report = measure(folder, args.runs, args.python_threads, Path(tmp), args.variant,
                         real_lm=args.real_lm is not None)
    print_table(report)
    write_json(report, args.json)
    return report


if __name__ == "__main__":
    main()
