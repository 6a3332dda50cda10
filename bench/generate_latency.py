"""Caption latency at batch 1, 20 new tokens: the original design against our default path.

(a) original: linear projector over all 196 patches, HF generate with that code's defaults
    (3 beams, sampling, top-p 0.9);
(b) ours: pixel-shuffle k=2 (49 prefix tokens) + MLP, greedy with the KV cache.
Both at the `base` architecture (SigLIP-base/16-224 + SmolLM-135M shapes) with random weights,
fp32. Each figure is the median of `--runs` timed runs after one warm-up.

    python bench/generate_latency.py [--device cpu] [--runs 5] [--json out.json]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import torch

from bench_io import write_json
from distilvit.bases import random_captioner
from distilvit.config import GenerationConfig, preset
from distilvit.generate import generate_ids, prompt_embeddings
from distilvit.model.lora import causal_lm

NEW_TOKENS = 20
DESIGNS = {
    "original": ("seed-compatible", GenerationConfig(
        max_new_tokens=NEW_TOKENS, min_new_tokens=NEW_TOKENS, num_beams=3, do_sample=True,
        top_p=0.9)),
    "ours": ("base", GenerationConfig(max_new_tokens=NEW_TOKENS, min_new_tokens=NEW_TOKENS)),
}


def timed(fn: Callable[[], object], runs: int, device: torch.device) -> float:
    """Median milliseconds of `runs` calls after one warm-up."""
    fn()
    samples = []
    for _ in range(runs):
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize()
        samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples)


@torch.inference_mode()
def measure(preset_name: str, gen: GenerationConfig, device: torch.device, runs: int) -> dict:
    model = random_captioner(preset(preset_name)).to(device)
    pixels = torch.randn(1, 3, 224, 224, device=device)
    prefix = model.image_prefix(pixels)
    prompt = prompt_embeddings(model, prefix).expand(gen.num_beams, -1, -1)
    lm = causal_lm(model.lm)
    encoder_ms = timed(lambda: model.image_prefix(pixels), runs, device)
    prefill_ms = timed(lambda: lm(inputs_embeds=prompt, use_cache=True, logits_to_keep=1),
                       runs, device)
    total_ms = timed(lambda: generate_ids(model, pixels, gen), runs, device)
    decode_ms = total_ms - encoder_ms - prefill_ms
    return {"prefix_tokens": prefix.shape[1], "encoder_ms": encoder_ms,
            "prefill_ms": prefill_ms, "ms_per_token": decode_ms / (NEW_TOKENS - 1),
            "total_ms": total_ms}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--json", type=Path, help="write the figures here")
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    results = {name: measure(p, gen, device, args.runs) for name, (p, gen) in DESIGNS.items()}
    report = {"device": str(device), "threads": torch.get_num_threads(), "runs": args.runs,
              "new_tokens": NEW_TOKENS, "batch": 1, "designs": results,
              "ratio": results["original"]["total_ms"] / results["ours"]["total_ms"]}
    print_table(report)
    write_json(report, args.json)
    return report


def print_table(report: dict) -> None:
    print(f"device {report['device']}, {report['threads']} threads, batch 1, "
          f"{report['new_tokens']} new tokens, median of {report['runs']} runs")
    print(f"{'design':<10}{'prefix':>8}{'encoder ms':>12}{'prefill ms':>12}"
          f"{'ms/token':>10}{'total ms':>10}")
    for name, row in report["designs"].items():
        print(f"{name:<10}{row['prefix_tokens']:>8}{row['encoder_ms']:>12.1f}"
              f"{row['prefill_ms']:>12.1f}{row['ms_per_token']:>10.1f}{row['total_ms']:>10.1f}")
    print(f"ratio (original total / ours total): {report['ratio']:.2f}x")


if __name__ == "__main__":
    main()
