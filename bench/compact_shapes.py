"""`shapes` attribute accuracy with a GPT-2 language model against a Llama one, tiny models.

The `compact` preset swaps `base`'s Llama-family LM (SmolLM-135M) for a GPT-2 one
(DistilGPT-2): learned absolute positions, LayerNorm, a GELU MLP, Conv1D layers. Neither can be
downloaded here, so this measures the family swap at the tiny scale: two tiny LMs of the same
width and depth are pretrained by the same recipe (`distilvit.tinybases.pretrain_lm`: next-token
prediction on scene captions, 3 steps in 4 prompted by one vector per grid cell), the same
steps, on the same scenes, with the shipped tiny tokenizer; each is then the decoder of the
`tiny` preset (shipped tiny vision tower, same projector and LoRA, `--decoder-model`) trained
the same steps on `shapes` and scored on its test split. The shipped `tiny` preset itself
(its Llama LM pretrained 2,000 steps) is trained the same steps as a reference.

Tiny models on synthetic scenes: this checks that a GPT-2 decoder learns the task through our
path as well as a Llama one; it does not forecast DistilGPT-2's captions on photos.

    python bench/compact_shapes.py [--lm-steps 800] [--steps 600] [--sample 4000] [--json F]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from bench_io import write_json
from distilvit.cli import main as cli
from distilvit.config import BUILTIN_PREFIX
from distilvit.model.decoder import load_tokenizer
from distilvit.model.loading import builtin_dir
from distilvit.runtime import hf_quiet, seed_everything
from distilvit.tinybases import TinyBasesConfig, make_corpus, pretrain_lm

SCORES = ("attribute_accuracy", "strict_accuracy", "colour_accuracy", "shape_accuracy",
          "size_accuracy", "count_accuracy", "object_f1")


def pretrain(family: str, cfg: TinyBasesConfig, tokenizer, corpus, captions, out: Path) -> dict:
    """A tiny LM of `family` pretrained by the shipped recipe, saved with the tokenizer."""
    seed_everything(cfg.seed)
    start = time.perf_counter()
    lm = pretrain_lm(cfg, tokenizer, corpus[3], captions, family)
    with hf_quiet():
        lm.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return {"path": str(out), "pretrain_s": time.perf_counter() - start,
            "parameters": sum(p.numel() for p in lm.parameters())}


def train_captioner(decoder: str, args: argparse.Namespace, out: Path, cache: Path) -> dict:
    """`distilvit train --preset tiny --decoder-model DECODER` and its test-split scores."""
    start = time.perf_counter()
    code = cli(["train", "--preset", "tiny", "--decoder-model", decoder, "--dataset", "shapes",
                "--sample", str(args.sample), "--max-steps", str(args.steps), "--output-dir",
                str(out), "--cache-dir", str(cache), "--checkpoint-every", "0", "--seed", "0"])
    if code != 0:
        raise RuntimeError(f"training with {decoder} failed ({code})")
    metrics = json.loads((out / "metrics.json").read_text())
    rows = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    losses = [r["caption_loss"] for r in rows if "caption_loss" in r]
    return {"train_s": time.perf_counter() - start, "last_logged_loss": losses[-1],
            **{k: metrics[k] for k in SCORES if k in metrics}}


def run(args: argparse.Namespace, work: Path) -> dict:
    cfg = TinyBasesConfig(lm_steps=args.lm_steps, images=args.images)
    tokenizer = load_tokenizer(str(builtin_dir("tiny-lm")))
    corpus, captions = make_corpus(cfg)
    report: dict = {"lm_steps": args.lm_steps, "images": args.images, "steps": args.steps,
                    "sample": args.sample, "lms": {}, "captioners": {}}
    decoders = {"tiny (shipped Llama LM, 2000 pretraining steps)": BUILTIN_PREFIX + "tiny-lm"}
    for family in ("llama", "gpt2"):
        lm = pretrain(family, cfg, tokenizer, corpus, captions, work / f"lm-{family}")
        report["lms"][family] = lm
        decoders[f"{family} ({args.lm_steps} pretraining steps)"] = lm["path"]
    for i, (name, path) in enumerate(decoders.items()):
        report["captioners"][name] = train_captioner(path, args, work / f"run{i}",
                                                     work / "cache")
    return report


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lm-steps", type=int, default=800, help="LM pretraining steps")
    parser.add_argument("--images", type=int, default=20_000, help="pretraining scenes")
    parser.add_argument("--steps", type=int, default=600, help="captioner training steps")
    parser.add_argument("--sample", type=int, default=4000, help="shapes training images")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        report = run(args, Path(tmp))
    for name, row in report["captioners"].items():
        print(f"{name:<50} attribute {row['attribute_accuracy']:.3f}  strict "
              f"{row.get('strict_accuracy', float('nan')):.3f}  loss {row['last_logged_loss']:.3f}"
              f"  {row['train_s']:.0f} s")
    write_json(report, args.json)
    return report


if __name__ == "__main__":
    main()
