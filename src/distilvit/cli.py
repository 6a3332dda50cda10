"""The `distilvit` console script: subcommands mapped to plain functions."""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from distilvit import __version__
from distilvit.errors import DistilvitError
from distilvit.runtime import quiet_hub, setup_logging

# subcommand -> module under distilvit.commands (imported lazily: `--help` stays fast)
COMMANDS = {
    "train": "Train a captioner (frozen vision tower, projector, LoRA).",
    "eval": "Score a model on a dataset split (caption metrics, shapes attributes).",
    "caption": "Caption images with a trained (or merged) model.",
    "merge": "Fold LoRA into the language model; write a self-contained model folder.",
    "export": "Export to ONNX (fp32 + INT8/q4/fp16), checked against torch with ONNX Runtime.",
    "push": "Upload a trained or exported folder to the Hugging Face Hub with a model card.",
    "demo": "Browser demo: serve the page, the JS module and an exported model (COOP/COEP).",
    "serve": "REST API (Flask, micro-batched) for a model; waitress, or gunicorn --workers.",
    "gradio": "Gradio demo for a model: image in, caption out.",
    "data": "Dataset tools: merge sources for the Hub, de-bias captions, prompts for rare objects.",
    "quality": "Dataset quality and bias report (HTML, JSON, CSV).",
}

logger = logging.getLogger("distilvit")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="distilvit",
        description="Train tiny, private image captioners (alt text) and ship them.")
    parser.add_argument("--version", action="version", version=f"distilvit {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, summary in COMMANDS.items():
        module = importlib.import_module(f"distilvit.commands.{name}")
        command = sub.add_parser(name, help=summary, description=summary)
        module.add_arguments(command)
        command.set_defaults(run=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse: --help (0) or a usage error (2)
        return int(exc.code or 0)
    setup_logging(args.verbose)
    quiet_hub()
    try:
        return args.run(args)
    except DistilvitError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


def entry_point() -> None:
    sys.exit(main())
