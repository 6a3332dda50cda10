"""Batch captioning throughput: a naive loop against `distilvit caption --output`, and Ray.

`base` architecture with random weights, exported to ONNX (fp32 and INT8) and run in fp32, the
command's default variant (`--variant int8` runs the INT8 graphs instead: on CPUs the weight-
only INT8 computes slower than fp32, docs/batch.md). The bench writes `--images` photo-like
JPEGs (smooth colour fields with grain, sizes from 640x480 to 4000x3000) and times, each in its
own process:

(a) naive: open the model, then for each file `model.caption([path])` (what a user scripts);
(b) `distilvit caption MODEL FOLDER --output x.jsonl` with its defaults;
(every caption is `--tokens` new tokens long: random weights would stop anywhere)
(c) the same with `--engine ray` on a local Ray (Ray's start-up is inside its time).

Images/s is timed inside each process from the first image (model loading excluded; for (b)
and (c) it is the command's own summary line). Peak RSS is the largest sum over the process
tree (Ray's daemons and actors included), sampled every 50 ms. `ratio` = (b) / (a). (b) also
runs on `--large` hard links of the same files, to show that its memory does not grow with
the number of inputs. The compute floor: encoder + decoder FLOPs per image at the INT8 matmul
rate measured here with ONNX Runtime.

    python bench/batch_caption.py [--images 200] [--large 1000] [--variant fp32]
        [--json out.json] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import psutil
from PIL import Image

from bench_io import write_json

SIZES = [(640, 480), (1024, 768), (1600, 1200), (2048, 1536), (3000, 2000), (4000, 3000)]
NAIVE = """
import json, sys, time, resource
from pathlib import Path
from distilvit.caption_model import open_model
from distilvit.config import BackendConfig, GenerationConfig
model = open_model(sys.argv[1], BackendConfig(onnx_variant=sys.argv[4]))
tokens = int(sys.argv[3])
generation = GenerationConfig(max_new_tokens=tokens, min_new_tokens=tokens)
paths = sorted(str(p) for p in Path(sys.argv[2]).rglob("*.jpg"))
start = time.perf_counter()
for path in paths:
    model.caption([path], generation)
print(json.dumps({"images": len(paths), "seconds": time.perf_counter() - start}))
"""


def photo_like(size: tuple[int, int], rng: np.random.Generator) -> Image.Image:
    """Smooth colour regions plus sensor-like grain: JPEG sizes and decode costs of photos."""
    width, height = size
    coarse = rng.integers(0, 256, size=(6, 8, 3), dtype=np.uint8)
    image = Image.fromarray(coarse).resize(size, Image.Resampling.BICUBIC)
    grain = rng.normal(0, 6, size=(height, width, 1)).astype(np.float32)
    return Image.fromarray(np.clip(np.asarray(image, np.float32) + grain, 0, 255)
                           .astype(np.uint8))


def make_images(folder: Path, count: int) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    paths = []
    for i in range(count):
        path = folder / f"photo{i:05d}.jpg"
        if not path.exists():
            photo_like(SIZES[i % len(SIZES)], rng).save(path, quality=90)
        paths.append(path)
    return paths


def link_copies(paths: list[Path], folder: Path, count: int) -> None:
    """`count` inputs as hard links of `paths` (distinct files to the command, no disk)."""
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        link = folder / f"copy{i:05d}.jpg"
        if not link.exists():
            os.link(paths[i % len(paths)], link)


def fresh(path: Path) -> Path:
    """`path` removed: a kept output would make the command resume (skip everything)."""
    if path.is_dir():
        shutil.rmtree(path)
    elif path.exists():
        path.unlink()
    return path


def run_measured(command: list[str]) -> tuple[str, float, float]:
    """(stdout, wall seconds, peak RSS MB of the whole process tree)."""
    start = time.perf_counter()
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                            text=True)
    root, peak = psutil.Process(proc.pid), 0
    while proc.poll() is None:
        try:
            tree = [root, *root.children(recursive=True)]
            peak = max(peak, sum(_rss(p) for p in tree))
        except psutil.NoSuchProcess:
            pass
        time.sleep(0.05)
    out = proc.stdout.read()
    if proc.returncode not in (0, 1):
        raise RuntimeError(f"{command[:4]} failed ({proc.returncode}): {out[-2000:]}")
    return out, time.perf_counter() - start, peak / 1e6


def _rss(process: psutil.Process) -> int:
    try:
        return process.memory_info().rss
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return 0


def summary_rate(stdout: str) -> float:
    match = re.search(r"([\d.]+) images/s", stdout)
    if not match:
        raise RuntimeError(f"no summary line in: {stdout[-500:]}")
    return float(match.group(1))


def caption_command(model: Path, images: Path, out: Path, tokens: int, variant: str,
                    *extra: str) -> list[str]:
    return [sys.executable, "-m", "distilvit", "caption", str(model), str(images),
            "--output", str(out), "--onnx-variant", variant, "--min-new-tokens", str(tokens),
            "--max-new-tokens", str(tokens), *extra]


def command_run(model: Path, images: Path, out: Path, tokens: int, variant: str,
                *extra: str) -> dict:
    """The command on `images` into a fresh `out`: its images/s, wall seconds, peak RSS."""
    stdout, wall, rss = run_measured(caption_command(model, images, fresh(out), tokens, variant,
                                                     *extra))
    return {"images_per_s": summary_rate(stdout), "wall_s": wall, "peak_rss_mb": rss}


def measure_runs(model: Path, work: Path, count: int, large: int, tokens: int,
                 variant: str) -> dict:
    images = work / f"images{count}"
    paths = make_images(images, count)
    naive_out, naive_wall, naive_rss = run_measured(
        [sys.executable, "-c", NAIVE, str(model), str(images), str(tokens), variant])
    naive = json.loads(naive_out.strip().splitlines()[-1])
    runs = {"naive loop": {"images_per_s": naive["images"] / naive["seconds"],
                           "wall_s": naive_wall, "peak_rss_mb": naive_rss}}
    runs["caption --output"] = command_run(model, images, work / "b.jsonl", tokens, variant)
    runs["caption --engine ray"] = command_run(model, images, work / "c.parquet", tokens,
                                               variant, "--engine", "ray")
    memory = {count: runs["caption --output"]["peak_rss_mb"]}
    if large:
        link_copies(paths, work / f"large{large}", large)
        row = command_run(model, work / f"large{large}", work / "large.jsonl", tokens, variant)
        runs[f"caption --output ({large} inputs)"] = row
        memory[large] = row["peak_rss_mb"]
    return {"runs": runs, "rss_by_inputs_mb": memory}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=200)
    parser.add_argument("--large", type=int, default=1000,
                        help="inputs for the memory check of (b) (0 = skip)")
    parser.add_argument("--tokens", type=int, default=20,
                        help="new tokens per caption, fixed (random weights stop anywhere)")
    parser.add_argument("--variant", choices=["fp32", "int8"], default="fp32",
                        help="the export's graphs every run uses (default: %(default)s)")
    parser.add_argument("--json", type=Path, help="write the figures here")
    parser.add_argument("--keep", type=Path, help="model and images here (reused) instead of "
                                                  "a temp dir")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        work = args.keep or Path(tmp)
        report = measure(work, args.images, args.large, args.tokens, args.variant)
    print_table(report)
    write_json(report, args.json)
    return report


def measure(work: Path, count: int, large: int, tokens: int, variant: str) -> dict:
    from batch_floor import compute_floor, export_base_int8

    model = export_base_int8(work / "model")
    report = measure_runs(model, work, count, large, tokens, variant)
    runs = report["runs"]
    floor = compute_floor(model, tokens)
    seconds_per_image = 1 / runs["caption --output"]["images_per_s"]
    return {**report, "images": count, "variant": variant, "sizes": SIZES, "new_tokens": tokens, "cpus": os.cpu_count(),
            "load_average": os.getloadavg(), "floor": floor,
            "b_seconds_per_image": seconds_per_image,
            "b_over_floor": seconds_per_image / floor["seconds_per_image"],
            "ratio": runs["caption --output"]["images_per_s"]
            / runs["naive loop"]["images_per_s"]}


def print_table(report: dict) -> None:
    print(f"base architecture, random weights, ONNX {report['variant']}; {report['images']} JPEGs "
          f"{report['sizes'][0]}..{report['sizes'][-1]}; {report['cpus']} CPUs, load average "
          f"{report['load_average'][0]:.1f} (shared machine)")
    print(f"{'run':<36}{'images/s':>10}{'wall s':>9}{'peak RSS MB':>13}")
    for name, row in report["runs"].items():
        print(f"{name:<36}{row['images_per_s']:>10.2f}{row['wall_s']:>9.1f}"
              f"{row['peak_rss_mb']:>13.0f}")
    floor = report["floor"]
    print(f"compute floor: {floor['gflop_per_image']:.1f} GFLOP/image at "
          f"{floor['int8_gflops']:.0f} GFLOP/s (INT8 matmul, ORT) = "
          f"{floor['seconds_per_image']:.3f} s/image; (b) {report['b_seconds_per_image']:.3f} "
          f"s/image = {report['b_over_floor']:.1f}x the floor")
    print("RSS of (b) by inputs: " + ", ".join(
        f"{n}: {mb:.0f} MB" for n, mb in report["rss_by_inputs_mb"].items()))
    print(f"ratio ((b) / (a)): {report['ratio']:.2f}x")


if __name__ == "__main__":
    main()
