"""Captioners side by side at their real shapes (random weights): old, original, ours.

- old: the model Firefox's alt text runs today (mozilla/distilvit), ViT-B/16-224 +
  DistilGPT-2 with cross-attention as a VisionEncoderDecoderModel (bench/old_design.py);
- original: the seed's prefix design as its code does it (bench/original_design.py);
- ours, one column per preset in `OUR_PRESETS`: `base` (SigLIP-B/16-224, pixel shuffle to 49
  prefix tokens, MLP, SmolLM-135M + LoRA) and `compact` (the same with DistilGPT-2 as the
  prefix LM, no cross-attention). `OURS_VARIANT` names the one the docs ship.

Rows: parameters (total, trainable in each design's own training); one training step at
batch 8 with 32 caption tokens in each design's own training path, each in its own process
(s/step after a warm-up step, and that process's peak RSS; ours and original through
bench/train_throughput.py); caption latency at batch 1 with exactly 20 new tokens (EOS
suppressed by min_new_tokens for every design) in torch fp32 `generate`, native ONNX Runtime
q8 and stock transformers.js `pipeline('image-to-text')` in headless Chromium (WASM,
`--threads`); the download per transformers.js dtype; the browser's memory while captioning
(bench/browser_compare.py). Old and ours decode greedily (what the pipeline does); the
original design decodes as its code did (3 beams, sampling, top-p 0.9): it was never exported.
Latencies are medians of `--runs` interleaved rounds after a warm-up.

`size_ratio` = ours q8 download / the old design's published q8 download (187 MB; our export
of it stores GPT-2's tied embedding twice, as ours does, and `size_ratio_same_export` divides
by that); `browser_latency_ratio` = ours / old caption time in transformers.js, where "ours"
is `OURS_VARIANT` (the same ratios for every preset under `ratios_by_preset`). The load
average is recorded: figures from a shared machine compare only within one run.

    python bench/architecture_comparison.py [--json out.json] [--quick] [--skip-train]
        [--skip-browser] [--runs 3] [--steps 3] [--threads 2] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

import old_design
import original_design
from bench_io import write_json
from export_latency import interleaved
from train_throughput import BATCH, child

NEW_TOKENS = 20
OUR_PRESETS = ("base", "compact")
DESIGNS = ("old", "original", *OUR_PRESETS)  # the report's keys, one column each
COLUMNS = {"old": "old", "original": "original", **{p: f"ours {p}" for p in OUR_PRESETS}}
# What the docs recommend shipping (docs/architecture-comparison.md): "ours" in the ratios.
OURS_VARIANT = {"preset": "compact", "layout": "vision-encoder-decoder", "dtype": "q8",
                "variant": "int8"}
DTYPES = {"fp32": "fp32", "q8": "int8", "q4": "q4", "fp16": "fp16"}  # transformers.js -> ours
PUBLISHED_OLD_MB = {"q8": 187.0, "fp16": 367.0}  # Mozilla/distilvit on the Hub (issue 16)


def build_ours(preset_name: str):
    from distilvit.bases import random_captioner
    from distilvit.config import preset

    return random_captioner(preset(preset_name))


def parameters() -> dict:
    """Each design's total parameters and those its training updates."""
    rows = {"old": original_design.parameter_counts(
        old_design.build_old().requires_grad_(True)),
        "original": original_design.parameter_counts(original_design.build_original())}
    rows.update({name: original_design.parameter_counts(build_ours(name))
                 for name in OUR_PRESETS})
    rows["old"]["how"] = "every weight (Seq2SeqTrainer over the whole model, nothing frozen)"
    rows["original"]["how"] = "linear projector + LoRA r16 on q/k/v/o (towers frozen)"
    rows["base"]["how"] = "MLP projector + LoRA r16 on q/k/v/o (towers frozen)"
    rows["compact"]["how"] = ("MLP projector + LoRA r16 on every Conv1D: c_attn, c_proj, c_fc "
                              "(towers frozen)")
    return rows


def old_train_step(steps: int) -> dict:
    """The old design's step (in its own process: its peak RSS is its own)."""
    import resource

    model = old_design.build_old()
    trainer = old_design.OldTrainer(model)
    batch = original_design.random_batch(BATCH)
    start = time.perf_counter()
    trainer.step(**batch)  # warm-up
    first = time.perf_counter() - start
    start = time.perf_counter()
    for _ in range(steps):
        trainer.step(**batch)
    seconds = time.perf_counter() - start
    return {"design": "old", "precision": "fp32", "steps": steps, "first_step_s": first,
            "step_s": seconds / steps, "samples_per_s": steps * BATCH / seconds,
            "peak_rss_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6}


def training(steps: int) -> dict:
    out = subprocess.run([sys.executable, __file__, "--only-train", "--steps", str(steps)],
                         capture_output=True, text=True, check=True)
    rows = {"old": json.loads(out.stdout.strip().splitlines()[-1]),
            "original": child("original", steps, "cpu")}
    for name in OUR_PRESETS:
        rows[name] = child("ours", steps, "cpu", name)
    return rows


def export_all(folder: Path) -> dict[str, Path]:
    """Old and ours in the vision-encoder-decoder layout, every variant (reused if there)."""
    from distilvit.export import ved

    paths = {name: folder / name for name in ("old", *OUR_PRESETS)}
    for name, path in paths.items():
        if (path / "onnx" / "decoder_model_merged_fp16.onnx").is_file():
            continue
        if name == "old":
            old_design.export_old(old_design.build_old(), path, quantize="all")
        else:
            ved.export_ved(build_ours(name), path, quantize="all")
    return paths


def downloads(paths: dict[str, Path]) -> dict:
    """MB per transformers.js dtype: the two graph files it fetches, by name."""
    from distilvit.ort.files import VED_GRAPHS, graph_file

    table = {}
    for design, folder in paths.items():
        table[design] = {}
        for dtype, variant in DTYPES.items():
            files = {graph_file(g, variant): (folder / graph_file(g, variant)).stat().st_size
                     / 1e6 for g in VED_GRAPHS}
            table[design][dtype] = {"files": files, "total_mb": sum(files.values())}
    return table


def graph_nodes(paths: dict[str, Path]) -> dict:
    """ONNX nodes per q8 graph: the decoder's are dispatched once per generated token."""
    import onnx

    from distilvit.ort.files import VED_GRAPHS, graph_file

    return {design: {g: len(onnx.load(str(folder / graph_file(g, "int8"))).graph.node)
                     for g in VED_GRAPHS} for design, folder in paths.items()}


def torch_latency(runs: int) -> dict:
    """ms for pixels -> 20 new tokens, torch fp32 `generate`, batch 1."""
    from distilvit.config import GenerationConfig
    from distilvit.generate import generate_ids

    greedy = GenerationConfig(max_new_tokens=NEW_TOKENS, min_new_tokens=NEW_TOKENS)
    old, original = old_design.build_old(), original_design.build_original().eval()
    ours = {name: build_ours(name) for name in OUR_PRESETS}
    pixels = torch.randn(1, 3, 224, 224, generator=torch.Generator().manual_seed(0))
    calls = {"old": lambda: old_design.torch_greedy(old, pixels, NEW_TOKENS),
             "original": lambda: original.generate(pixels, NEW_TOKENS, NEW_TOKENS)}
    calls.update({name: lambda m=model: generate_ids(m, pixels, greedy)
                  for name, model in ours.items()})
    with torch.inference_mode():
        return interleaved(calls, runs)


def ort_latency(paths: dict[str, Path], runs: int) -> tuple[dict, dict]:
    """ms for pixels -> 20 new tokens, native ONNX Runtime q8; and the old export's fp32 parity."""
    from distilvit.config import GenerationConfig
    from distilvit.ort.ved import VedCaptioner

    greedy = GenerationConfig(max_new_tokens=NEW_TOKENS, min_new_tokens=NEW_TOKENS)
    pixels = np.random.default_rng(0).standard_normal((1, 3, 224, 224)).astype(np.float32)
    old_q8 = old_design.OldOnnx(paths["old"], "int8")
    calls = {"old": lambda: old_q8.generate_ids(pixels, NEW_TOKENS)}
    for name in OUR_PRESETS:
        runner = VedCaptioner(paths[name], "int8")
        calls[name] = lambda r=runner: r.generate_ids(pixels, greedy)
    times = interleaved(calls, runs)
    # The export is what transformers.js runs: its fp32 tokens must be torch's.
    torch_ids = old_design.torch_greedy(old_design.build_old(), torch.from_numpy(pixels),
                                        NEW_TOKENS).numpy()
    ort_ids = old_design.OldOnnx(paths["old"], "fp32").generate_ids(pixels, NEW_TOKENS)
    parity = {"old_fp32_tokens_equal_torch": bool((torch_ids == ort_ids).all()),
              "old_q8_agreement_with_torch": float((torch_ids == old_q8.generate_ids(
                  pixels, NEW_TOKENS)).mean())}
    return times, parity


def browser(paths: dict[str, Path], runs: int, threads: int, workdir: Path) -> dict:
    from browser_compare import compare

    return compare(paths, runs, threads, NEW_TOKENS, workdir, dtype=OURS_VARIANT["dtype"])


def measure(args: argparse.Namespace, folder: Path, workdir: Path) -> dict:
    report: dict = {"new_tokens": NEW_TOKENS, "batch_train": BATCH,
                    "caption_tokens_train": original_design.CAPTION_TOKENS,
                    "torch_threads": torch.get_num_threads(), "cpu_count": os.cpu_count(),
                    "runs": args.runs, "ours": OURS_VARIANT, "load_average": [os.getloadavg()]}
    report["parameters"] = parameters()
    if not args.skip_train:
        report["training"] = training(args.steps)
        report["load_average"].append(os.getloadavg())
    paths = export_all(folder)
    report["download_mb"] = downloads(paths)
    report["published_old_mb"] = PUBLISHED_OLD_MB
    report["q8_graph_nodes"] = graph_nodes(paths)
    report["ort_q8_ms"], report["parity"] = ort_latency(paths, args.runs)
    report["torch_ms"] = torch_latency(args.runs)
    report["load_average"].append(os.getloadavg())
    if not args.skip_browser:
        report["browser"] = browser(paths, args.runs, args.threads, workdir)
        report["load_average"].append(os.getloadavg())
    ratios(report)
    return report


def preset_ratios(report: dict, name: str) -> dict:
    """One of our presets against the old design (and the original, for training)."""
    sizes = report["download_mb"]
    ours_q8, old_q8 = sizes[name]["q8"]["total_mb"], sizes["old"]["q8"]["total_mb"]
    # The denominator is what Firefox's users download (the published q8 files, which store
    # GPT-2's tied embedding once); our export of the old design stores it twice, as ours does.
    out = {"size_ratio": ours_q8 / PUBLISHED_OLD_MB["q8"],
           "size_ratio_same_export": ours_q8 / old_q8,
           "size_ratio_q4": sizes[name]["q4"]["total_mb"] / PUBLISHED_OLD_MB["q8"],
           "ort_latency_ratio": report["ort_q8_ms"][name] / report["ort_q8_ms"]["old"],
           "torch_latency_ratio": report["torch_ms"][name] / report["torch_ms"]["old"]}
    if "browser" in report:
        rows = report["browser"]["designs"]
        out["browser_latency_ratio"] = rows[name]["caption_ms"] / rows["old"]["caption_ms"]
    if "training" in report:
        train = report["training"]
        out["train_step_ratio_original_over_ours"] = (train["original"]["step_s"]
                                                      / train[name]["step_s"])
    return out


def ratios(report: dict) -> None:
    """`ratios_by_preset`, and the shipped preset's ratios at the top level."""
    report["ratios_by_preset"] = {name: preset_ratios(report, name) for name in OUR_PRESETS}
    report.update(report["ratios_by_preset"][OURS_VARIANT["preset"]])


def _cell(value: float | None, fmt: str = "{:.0f}") -> str:
    return "n/a" if value is None else fmt.format(value)


def table_rows(r: dict) -> list[tuple[str, list[str]]]:
    """(row name, [a cell per design in DESIGNS]) for the printed and the documented table."""
    p, rows = r["parameters"], []
    rows.append(("parameters, total (M)", [_cell(p[d]["total"] / 1e6, "{:.1f}") for d in DESIGNS]))
    rows.append(("parameters, trainable (M)",
                 [_cell(p[d]["trainable"] / 1e6, "{:.2f}") for d in DESIGNS]))
    if "training" in r:
        t = r["training"]
        rows.append(("train step, batch 8 (s/step)",
                     [_cell(t[d]["step_s"], "{:.2f}") for d in DESIGNS]))
        rows.append(("train peak RSS (GB)", [_cell(t[d]["peak_rss_gb"], "{:.2f}") for d in DESIGNS]))
    rows.append(("caption, torch fp32 generate (ms)", [_cell(r["torch_ms"][d]) for d in DESIGNS]))
    rows.append(("caption, ONNX Runtime q8 (ms)",
                 [_cell(r["ort_q8_ms"].get(d)) for d in DESIGNS]))
    if "browser" in r:
        b = r["browser"]["designs"]
        rows.append((f"caption, transformers.js WASM {r['browser']['threads']} threads (ms)",
                     [_cell(b[d]["caption_ms"]) if d in b else "n/a" for d in DESIGNS]))
        rows.append(("  of which first token (ms)",
                     [_cell(b[d]["first_token_ms"]) if d in b else "n/a" for d in DESIGNS]))
        rows.append(("  each later token (ms)",
                     [_cell(b[d]["per_token_ms"]) if d in b else "n/a" for d in DESIGNS]))
        rows.append(("browser load, first (ms)",
                     [_cell(b[d]["load_ms"]) if d in b else "n/a" for d in DESIGNS]))
        rows.append(("browser renderer peak RSS (MB)",
                     [_cell(b[d]["memory"]["renderer_peak_mb"]) if d in b else "n/a"
                      for d in DESIGNS]))
    for dtype in DTYPES:
        rows.append((f"download {dtype} (MB)",
                     [_cell(r["download_mb"][d][dtype]["total_mb"]) if d in r["download_mb"]
                      else "n/a" for d in DESIGNS]))
    return rows


def print_table(r: dict) -> None:
    print(f"random weights at the real shapes; batch 1, {r['new_tokens']} new tokens; median "
          f"of {r['runs']} rounds; {r['cpu_count']} CPUs, torch {r['torch_threads']} threads; "
          f"load average {', '.join(f'{la[0]:.1f}' for la in r['load_average'])}")
    print(f"{'':<44}" + "".join(f"{COLUMNS[d]:>14}" for d in DESIGNS))
    for name, cells in table_rows(r):
        print(f"{name:<44}" + "".join(f"{c:>14}" for c in cells))
    print(f"ours = {r['ours']}; old fp32 export tokens == torch: "
          f"{r['parity']['old_fp32_tokens_equal_torch']}")
    for preset_name, q in r["ratios_by_preset"].items():
        line = (f"{preset_name}: size_ratio (q8 / old q8 as published, "
                f"{PUBLISHED_OLD_MB['q8']:.0f} MB) {q['size_ratio']:.2f} "
                f"({q['size_ratio_same_export']:.2f} against our export)")
        if "browser_latency_ratio" in q:
            line += f"; browser_latency_ratio (/ old) {q['browser_latency_ratio']:.2f}"
        print(line)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, help="write the figures here")
    parser.add_argument("--runs", type=int, default=3, help="timed rounds per latency")
    parser.add_argument("--steps", type=int, default=3, help="timed training steps")
    parser.add_argument("--threads", type=int, default=2, help="WASM threads in the browser")
    parser.add_argument("--quick", action="store_true", help="1 round, 1 step")
    parser.add_argument("--skip-train", action="store_true")
    parser.add_argument("--skip-browser", action="store_true")
    parser.add_argument("--keep", type=Path, help="export here (reused if already there)")
    parser.add_argument("--only-train", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.quick:
        args.runs, args.steps = 1, 1
    if args.only_train:
        row = old_train_step(args.steps)
        print(json.dumps(row))
        return row
    if not args.skip_browser:
        from browser_compare import browser_missing

        if browser_missing():
            sys.exit(f"error: cannot run the browser: {browser_missing()} (or --skip-browser)")
    with tempfile.TemporaryDirectory() as tmp:
        report = measure(args, args.keep or Path(tmp) / "exports", Path(tmp))
    print_table(report)
    write_json(report, args.json)
    return report


if __name__ == "__main__":
    main()
