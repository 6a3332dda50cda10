"""`distilvit caption MODEL_DIR IMAGE...`: one caption per image; bad images do not stop the run.

On the terminal it prints as it always did. With `--output` it becomes a resumable batch job
(see docs/batch.md): files, folders (recursive), a manifest or a registry dataset in; JSONL,
Parquet or an imagefolder's metadata.jsonl out; `--engine ray` spreads it over a Ray cluster.
"""

from __future__ import annotations

import argparse
from itertools import islice

from distilvit.batch.config import BatchConfig
from distilvit.cli_args import SEP, add_config_args, apply_args
from distilvit.config import BackendConfig, GenerationConfig, InferenceConfig
from distilvit.errors import UsageError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model_dir", metavar="MODEL_DIR", help="trained or merged model folder")
    parser.add_argument("images", nargs="*", metavar="IMAGE",
                        help="image files, or folders (every image file inside, recursively)")
    parser.add_argument("--json", action="store_true",
                        help="one JSON object per line: {image, caption} or {image, error}")
    add_config_args(parser, InferenceConfig, "inference", "inference")
    add_config_args(parser, BackendConfig, "backend", "backend")
    add_config_args(parser, GenerationConfig, "generation", "generation (defaults: the model's)")
    add_config_args(parser, BatchConfig, "batch",
                    "batch captioning (resumable; see docs/batch.md)")


def run(args: argparse.Namespace) -> int:
    cfg = apply_args(BatchConfig(), args, "batch")
    if not args.images and not cfg.manifest and not cfg.dataset:
        raise UsageError("nothing to caption: give images or folders, --manifest or --dataset")
    inference = apply_args(InferenceConfig(), args, "inference")
    backend = apply_args(BackendConfig(), args, "backend")
    if inference.batch_size < 1:
        raise UsageError(f"--batch-size must be at least 1, got {inference.batch_size}")
    summary = _run(args, cfg, inference, backend)
    if cfg.output:
        print(summary.line(), flush=True)
    return 1 if summary.failed else 0


def _run(args: argparse.Namespace, cfg: BatchConfig, inference: InferenceConfig,
         backend: BackendConfig):
    from distilvit.batch.inputs import count_items, iter_items
    from distilvit.batch.outputs import open_output
    from distilvit.batch.runner import Summary, drive, not_done

    if cfg.engine == "ray":
        from distilvit.batch.engine_ray import ActorSpec, caption_batches_ray

        spec = ActorSpec(args.model_dir, backend, inference, _generation_flags(args), cfg.draft)
        output = open_output(cfg)
        summary = Summary()
        batches = caption_batches_ray(spec, not_done(iter_items(args.images, cfg), output,
                                                     summary), cfg)
    else:
        from distilvit.batch.decode import Prepare, model_preprocessor
        from distilvit.batch.engine_local import caption_batches
        from distilvit.caption_model import open_model

        model = open_model(args.model_dir, backend, inference)
        generation = apply_args(model.generation, args, "generation")
        output = open_output(cfg, args.json, _show_names(args, cfg))
        summary = Summary()
        items = not_done(iter_items(args.images, cfg), output, summary)
        batches = caption_batches(model, items, Prepare(model_preprocessor(model), cfg.draft),
                                  generation, batch_size=inference.batch_size,
                                  workers=cfg.workers)
    total = count_items(args.images, cfg) if cfg.output else None
    return drive(batches, output, summary, total, progress=bool(cfg.output))


def _show_names(args: argparse.Namespace, cfg: BatchConfig) -> bool:
    """Name each image on the terminal unless exactly one image was asked for (as before)."""
    from distilvit.batch.inputs import expand_paths

    if len(args.images) > 1 or cfg.manifest or cfg.dataset:
        return True
    return sum(1 for _ in islice(expand_paths(args.images), 2)) > 1


def _generation_flags(args: argparse.Namespace) -> dict:
    """The generation flags the user gave (Ray actors apply them to the model's defaults)."""
    prefix = "generation" + SEP
    return {key: value for key, value in vars(args).items() if key.startswith(prefix)}
