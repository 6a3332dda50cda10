"""`distilvit data merge | debias | prompts`: the dataset tools.

- `merge --datasets coco flickr ... --save-path DIR [--push-to-hub ORG/NAME] [--private]
  [--dry-run]`: one leak-free DatasetDict from several sources (distilvit.data.merge);
- `debias INPUT --output OUT [--backend rules|llm]`: captions rewritten by the guidelines of
  docs/fighting_bias.md, with bias and fidelity figures before/after (distilvit.quality.debias);
- `prompts --rare-objects CSV [--prompts-per-object 5] [--output FILE]`: text-to-image prompts
  for rare objects (distilvit.quality.prompts).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from distilvit.cli_args import add_config_args, apply_args
from distilvit.config import MergeConfig
from distilvit.quality.config import DebiasConfig, LLMConfig, PromptsConfig


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="data_command", metavar="SUBCOMMAND", required=True)
    merge = sub.add_parser("merge", help="merge sources into one leak-free DatasetDict",
                           description=_doc(0))
    add_config_args(merge, MergeConfig, "merge", "merge")
    merge.set_defaults(data_run=run_merge)
    debias = sub.add_parser("debias", help="rewrite captions without biased descriptors",
                            description=_doc(1))
    debias.add_argument("input", metavar="INPUT",
                        help="a saved dataset folder, or a .jsonl/.csv file of captions")
    add_config_args(debias, DebiasConfig, "debias", "de-biasing")
    add_config_args(debias, LLMConfig, "llm", "llm backend")
    debias.set_defaults(data_run=run_debias)
    prompts = sub.add_parser("prompts", help="text-to-image prompts for rare objects",
                             description=_doc(2))
    add_config_args(prompts, PromptsConfig, "prompts", "prompts")
    prompts.set_defaults(data_run=run_prompts)


def _doc(index: int) -> str:
    items = (__doc__ or "").split("\n- ")[1:]
    return " ".join(items[index].split()).rstrip(";.") + "." if index < len(items) else ""


def run(args: argparse.Namespace) -> int:
    return args.data_run(args)


# ----- merge ----------------------------------------------------------------------------------
def run_merge(args: argparse.Namespace) -> int:
    from distilvit.data.merge import merge, push
    from distilvit.export.hub import check_repo

    cfg = apply_args(MergeConfig(), args, "merge")
    if cfg.push_to_hub:
        check_repo(cfg.push_to_hub)  # before the (long) merge, not after
    data, stats = merge(cfg)
    rows = ", ".join(f"{split} {len(data[split])}" for split in data)
    dropped = sum(stats.duplicates.values())
    print(f"merged into {cfg.save_path}: {rows} ({dropped} duplicate images dropped)")
    if not cfg.push_to_hub:
        return 0
    if cfg.dry_run:
        print_dry_run(cfg, data, stats.report())
        return 0
    print(push(cfg.save_path, cfg.push_to_hub, cfg.private))
    return 0


def print_dry_run(cfg: MergeConfig, data: Any, stats: dict[str, Any]) -> None:
    visibility = "private" if cfg.private else "public"
    size = sum(f.stat().st_size for f in Path(cfg.save_path).rglob("*") if f.is_file())
    total = sum(len(data[s]) for s in data)
    print(f"dry run: would push {total} rows ({size / 1e6:.2f} MB) from {cfg.save_path} to "
          f"{visibility} dataset repository {cfg.push_to_hub}")
    for split in data:
        print(f"  {split}: {len(data[split])} rows")
    first = next(iter(data.values()))
    print("  columns: " + ", ".join(f"{name} ({feature_name(f)})"
                                    for name, f in first.features.items()))
    for key, n in stats["per_source"].items():
        print(f"  {key}: {n}")


def feature_name(feature: Any) -> str:
    inner = getattr(feature, "feature", None)
    if inner is not None:
        return f"list of {feature_name(inner)}"
    return getattr(feature, "dtype", None) if type(feature).__name__ == "Value" \
        else type(feature).__name__


# ----- debias ---------------------------------------------------------------------------------
def run_debias(args: argparse.Namespace) -> int:
    from distilvit.quality.debias import run_debias as debias

    cfg = apply_args(DebiasConfig(), args, "debias")
    llm = apply_args(LLMConfig(), args, "llm")
    summary = debias(args.input, cfg, llm)
    print_debias(summary, cfg.output)
    return 0


def print_debias(s: dict[str, Any], output: str) -> None:
    print(f"rewrote {s['rows']} rows ({s['captions']} captions, {s['changed']} changed, "
          f"{s['failed_kept_original']} failed and kept as they were) -> {output}")
    print(f"  {'bias rate':<22}{'before':>8}{'after':>8}")
    for category, rates in s["bias_rates"].items():
        print(f"  {category:<22}{rates['before']:>8.3f}{rates['after']:>8.3f}")
    any_rate = s["any_category"]
    print(f"  {'any category':<22}{any_rate['before']:>8.3f}{any_rate['after']:>8.3f}")
    fidelity = s["fidelity"]
    if fidelity["mean"] is not None:
        print(f"  fidelity of changed captions: mean {fidelity['mean']:.3f}, min "
              f"{fidelity['min']:.3f} over {fidelity['changed_captions']} ({fidelity['method']})")
    backend = s["backend"]
    if backend.get("backend") == "llm":
        print(f"  llm: {backend['requests']} requests, {backend['cached']} cached captions, "
              f"{backend['failed']} failed")


# ----- prompts --------------------------------------------------------------------------------
def run_prompts(args: argparse.Namespace) -> int:
    from distilvit.quality.prompts import write_prompts

    cfg = apply_args(PromptsConfig(), args, "prompts")
    rows = write_prompts(cfg)
    objects = {o for row in rows for o in row["objects"]}
    print(f"wrote {len(rows)} prompts for {len(objects)} rare objects to {cfg.output}")
    return 0
