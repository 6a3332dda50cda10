"""Load time and caption latency in headless Chromium: stock transformers.js against our module.

The `base` architecture (SigLIP-base/16-224 + SmolLM-135M shapes) with random weights is
exported in both layouts with INT8 (`q8`). In one cross-origin isolated page, one after
another, each loaded from nothing in a fresh browser profile (model files from a local
server, never cached before):

- transformers.js 4.3.1, `pipeline('image-to-text', ...)` on the vision-encoder-decoder layout
  (the call Firefox makes);
- transformers.js, `AutoProcessor` + `AutoModelForImageTextToText` on the LLaVA layout;
- distilvit's own module (src/distilvit/web), `Captioner.load` + `caption`, LLaVA layout.

WASM, `--threads` threads for both onnxruntime-webs (transformers.js bundles its own,
1.31.0-dev; our module imports onnxruntime-web 1.30.0). Load = the call that makes the
captioner, the first time (download from the local server, session creation; the first
runtime of each onnxruntime-web also starts its WASM, and our module stores the files in the
Cache API); reload = dispose and make it again in the same page (our module then reads its
cache; transformers.js reads what its own browser cache kept). Caption = image URL to text
for one 640x480 photo-like PNG (fetched, decoded and resized each time), 20 new tokens
(min = max, so no run stops early), greedy. All three stay loaded and caption in
interleaved rounds (each round runs every runtime once, starting from a different one, so a
change of load on a shared machine spreads over all of them); median of `--runs` rounds
after one warm-up round. `ratio` = transformers.js pipeline (VED) caption time / our
module's. Load averages are recorded.

    python bench/transformersjs_latency.py [--runs 5] [--threads 2] [--json out.json] [--keep DIR]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
from pathlib import Path

from bench_io import write_json
from browser_latency import photo

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from browser_harness import (  # noqa: E402
    NODE_MODULES,
    ORT_DIST,
    WEB_DIR,
    browser_missing,
    run_script,
    serve,
)

TJS = NODE_MODULES / "@huggingface" / "transformers"
PAGES = Path(__file__).resolve().parents[1] / "tests" / "transformersjs"
NEW_TOKENS = 20
RUNTIMES = {  # name -> (runner in tests/transformersjs/pages/runners.js, model path)
    "transformers.js pipeline, vision-encoder-decoder": ("ved", "ved"),
    "transformers.js image-text-to-text, llava": ("llava", "llava"),
    "distilvit JS module, llava": ("distilvit", "/models/llava/"),
}


def export_both(folder: Path) -> dict[str, Path]:
    """The base architecture, random weights, both layouts with INT8 (reused when present)."""
    from distilvit.bases import random_captioner
    from distilvit.config import preset
    from distilvit.export import ved
    from distilvit.export.onnx_export import export_captioner
    from distilvit.ort.files import VED_GRAPHS, variants_in

    paths = {"llava": folder / "llava", "ved": folder / "ved"}
    if "int8" in variants_in(paths["llava"]) and "int8" in variants_in(paths["ved"], VED_GRAPHS):
        return paths
    model = random_captioner(preset("base"))
    export_captioner(model, paths["llava"], quantize="int8")
    ved.export_ved(model, paths["ved"], quantize="int8")
    return paths


def browser_run(paths: dict[str, Path], image: Path, runs: int, threads: int,
                workdir: Path) -> dict:
    mounts = {"/": PAGES / "pages", "/tjs/": TJS / "dist",
              "/ort-tjs/": TJS / "node_modules" / "onnxruntime-web" / "dist",
              "/web/": WEB_DIR, "/ort/": ORT_DIST, "/models/llava/": paths["llava"],
              "/models/ved/": paths["ved"], "/images/": image.parent}
    generation = {"maxNewTokens": NEW_TOKENS, "minNewTokens": NEW_TOKENS, "numBeams": 1}
    with serve(mounts, isolated=True) as server:
        # A query string per round: each caption fetches and decodes the image again.
        urls = [f"{server.url}/images/{image.name}?round={i}" for i in range(runs + 1)]
        runtimes = [{"runner": runner, "model": model, "dtype": "q8"}
                    for runner, model in RUNTIMES.values()]
        return run_script(PAGES / "latency.mjs",
                          {"url": f"{server.url}/index.html", "threads": threads,
                           "runtimes": runtimes, "urls": urls,
                           "options": {"generation": generation, "withIds": False}},
                          workdir, timeout=590)


def measure(folder: Path, runs: int, threads: int, workdir: Path) -> dict:
    paths = export_both(folder)
    image = workdir / "images" / "photo.png"
    image.parent.mkdir(parents=True, exist_ok=True)
    photo(image)
    loads = [os.getloadavg()]
    out = browser_run(paths, image, runs, threads, workdir)
    loads.append(os.getloadavg())
    rows = {}
    for name, result in zip(RUNTIMES, out["runtimes"], strict=True):
        samples = [s["ms"] for s in result["samples"]][1:]  # the first round is a warm-up
        rows[name] = {"load_ms": result["loadMs"], "reload_ms": result["reloadMs"],
                      "caption_ms": statistics.median(samples), "samples_ms": samples,
                      "caption": result["samples"][0]["text"]}
        if result.get("info"):
            rows[name]["threads"] = result["info"]["threads"]
    sizes = {layout: sum(p.stat().st_size for p in (path / "onnx").glob("*_quantized.onnx")) / 1e6
             for layout, path in paths.items()}
    ours = rows["distilvit JS module, llava"]["caption_ms"]
    return {"architecture": "base (random weights)", "dtype": "q8 (INT8)", "runs": runs,
            "new_tokens": NEW_TOKENS, "image": "640x480 RGB PNG, fetched and decoded per run",
            "threads_requested": threads, "transformers_js": out["config"],
            "cross_origin_isolated": out["isolated"], "runtimes": rows,
            "int8_mb": sizes, "load_average_1m": [round(la[0], 2) for la in loads],
            "cpu_count": os.cpu_count(),
            "ratio": rows["transformers.js pipeline, vision-encoder-decoder"]["caption_ms"] / ours}


def print_table(report: dict) -> None:
    print(f"base architecture, random weights, q8; {report['new_tokens']} new tokens; median "
          f"of {report['runs']} interleaved rounds after a warm-up; WASM, {report['threads_requested']} "
          f"threads; {report['cpu_count']} CPUs; load average (1 min) "
          f"{report['load_average_1m']}")
    print(f"{'runtime (in the order run)':<52}{'load ms':>10}{'reload ms':>11}"
          f"{'caption ms':>12}")
    for name, row in report["runtimes"].items():
        print(f"{name:<52}{row['load_ms']:>10.0f}{row['reload_ms']:>11.0f}"
              f"{row['caption_ms']:>12.0f}")
    print("INT8 download MB: " + ", ".join(f"{k} {v:.1f}" for k, v in report["int8_mb"].items()))
    print(f"ratio (transformers.js pipeline / distilvit module, caption): {report['ratio']:.2f}x")


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2, help="WASM threads for every runtime")
    parser.add_argument("--json", type=Path, help="write the figures here")
    parser.add_argument("--keep", type=Path, help="export here (reused if already there)")
    args = parser.parse_args(argv)
    missing = browser_missing() or (None if (TJS / "dist").is_dir()
                                    else "@huggingface/transformers is not installed")
    if missing:
        sys.exit(f"error: cannot run the browser: {missing}")
    with tempfile.TemporaryDirectory() as tmp:
        folder = args.keep or Path(tmp) / "base-onnx"
        report = measure(folder, args.runs, args.threads, Path(tmp))
    print_table(report)
    write_json(report, args.json)
    return report


if __name__ == "__main__":
    main()
