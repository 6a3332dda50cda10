"""`distilvit caption MODEL_DIR IMAGE...`: one caption per image; bad images do not stop the run."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from pathlib import Path

from distilvit.backends import load_model
from distilvit.cli_args import add_config_args, apply_args
from distilvit.config import BackendConfig, GenerationConfig, InferenceConfig
from distilvit.errors import ImageError
from distilvit.images import image_extensions, load_image


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model_dir", metavar="MODEL_DIR", help="trained or merged model folder")
    parser.add_argument("images", nargs="+", metavar="IMAGE",
                        help="image files, or folders (every image file inside is captioned)")
    parser.add_argument("--json", action="store_true",
                        help="one JSON object per line: {image, caption} or {image, error}")
    add_config_args(parser, InferenceConfig, "inference", "inference")
    add_config_args(parser, BackendConfig, "backend", "backend")
    add_config_args(parser, GenerationConfig, "generation", "generation (defaults: the model's)")


def expand_inputs(paths: list[str]) -> list[str]:
    """Folders become their image files (by extension, sorted); other paths stay as given."""
    extensions = image_extensions()
    expanded = []
    for path in paths:
        p = Path(path)
        if p.is_dir():
            expanded += sorted(str(f) for f in p.iterdir()
                               if f.is_file() and f.suffix.lower() in extensions)
        else:
            expanded.append(path)
    return expanded


def _chunks(items: list[str], size: int) -> Iterator[list[str]]:
    for start in range(0, len(items), max(1, size)):
        yield items[start:start + size]


def run(args: argparse.Namespace) -> int:
    inference = apply_args(InferenceConfig(), args, "inference")
    backend = apply_args(BackendConfig(), args, "backend")
    model, defaults = load_model(args.model_dir, backend, inference)
    generation = apply_args(defaults, args, "generation")
    inputs = expand_inputs(args.images)
    show_names = len(inputs) > 1 or len(args.images) > 1
    failed = 0
    for batch in _chunks(inputs, inference.batch_size):
        loaded = {}
        for path in batch:
            try:
                loaded[path] = load_image(path)
            except ImageError as exc:
                failed += 1
                _report_error(path, str(exc), args.json)
        if loaded:
            captions = model.caption(list(loaded.values()), generation)
            for path, caption in zip(loaded, captions, strict=True):
                _report_caption(path, caption, args.json, show_names)
    return 1 if failed else 0


def _report_caption(path: str, caption: str, as_json: bool, show_name: bool) -> None:
    if as_json:
        print(json.dumps({"image": path, "caption": caption}), flush=True)
    else:
        print(f"{path}: {caption}" if show_name else caption, flush=True)


def _report_error(path: str, message: str, as_json: bool) -> None:
    print(f"error: {message}", file=sys.stderr, flush=True)
    if as_json:
        print(json.dumps({"image": path, "error": message}), flush=True)
