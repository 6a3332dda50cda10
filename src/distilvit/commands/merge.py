"""`distilvit merge DIR OUT`: LoRA folded into the LM; OUT loads with no base-model download."""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model_dir", metavar="DIR", help="checkpoint written by training")
    parser.add_argument("output_dir", metavar="OUT", help="folder for the merged model")


def run(args: argparse.Namespace) -> int:
    from distilvit.model import merge_checkpoint

    out = merge_checkpoint(args.model_dir, args.output_dir)
    print(out)
    return 0
