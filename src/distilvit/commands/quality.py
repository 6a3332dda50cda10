"""`distilvit quality DATASET_OR_PATH [--split test] [--max-samples N] [--output-dir DIR]`."""

from __future__ import annotations

import argparse

from distilvit.cli_args import add_config_args, apply_args
from distilvit.quality.config import QualityConfig


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("dataset", metavar="DATASET_OR_PATH",
                        help="a dataset name (shapes, coco, ...), a saved dataset folder (e.g. "
                             "from `distilvit data merge`), an image folder, or a .jsonl/.csv "
                             "file of captions")
    add_config_args(parser, QualityConfig, "quality", "quality report")


def run(args: argparse.Namespace) -> int:
    from distilvit.quality.records import read_records
    from distilvit.quality.report import build_report

    cfg = apply_args(QualityConfig(), args, "quality")
    records = read_records(args.dataset, cfg.split, max_samples=cfg.max_samples,
                           dataset_path=cfg.dataset_path, seed=cfg.seed)
    summary = build_report(records, cfg, title=args.dataset)
    print_summary(summary, cfg.output_dir)
    return 0


def print_summary(s: dict, output_dir: str) -> None:
    align, fid, bias, objects = s["alignment"], s["fidelity"], s["bias"], s["objects"]
    print(f"{s['dataset']} ({s['split']}): {s['examples']} examples, {s['captions']} captions, "
          f"{s['seconds']:.1f} s")
    if align["clip_score"]:
        ref = align["ref_clip_score"]
        print(f"  CLIPScore        {align['clip_score']['mean']:.4f}"
              + (f"   RefCLIPScore {ref['mean']:.4f}" if ref else ""))
    else:
        print(f"  alignment        not computed: {align['skipped'] or 'no images'}")
    if fid["score"]:
        print(f"  fidelity         {fid['score']['mean']:.4f}  ({fid['method']})")
    rates = bias["captions"]["categories"]
    print("  bias rates       " + ", ".join(f"{c} {v['rate']:.3f}" for c, v in rates.items()))
    print(f"  objects          {objects['distinct_objects']} distinct, entropy "
          f"{objects['normalized_entropy']:.3f} (normalised), Gini {objects['gini']:.3f}, "
          f"{len(objects['rare_objects'])} below {objects['rare_threshold']}")
    print(f"  text             {s['text']['mean_words']:.1f} words/caption, vocabulary "
          f"{s['text']['vocabulary_size']}, duplicates {s['text']['duplicate_rate']:.3f}")
    print(f"  report           {output_dir}/report.html")
