"""`distilvit export MODEL_DIR --output-dir OUT [--layout llava|vision-encoder-decoder]
[--quantize int8|q4|fp16|none|all] [--no-verify]`."""

from __future__ import annotations

import argparse
import shutil
from collections.abc import Callable
from pathlib import Path

from distilvit.cli_args import add_config_args, apply_args
from distilvit.config import ExportConfig
from distilvit.errors import UsageError
from distilvit.ort.files import CONFIG_FILE, ONNX_DIR, is_exported

CARRIED_FILES = ("metrics.json",)  # copied from the model folder when present (model cards)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model_dir", metavar="MODEL_DIR", help="trained or merged model folder")
    parser.add_argument("--output-dir", required=True, metavar="OUT",
                        help="folder for the ONNX graphs and config files (the folder alone "
                             "is enough to caption)")
    add_config_args(parser, ExportConfig, "export", "export")


def prepare_output(model_dir: Path, out: Path) -> None:
    """Refuse to overwrite anything but an earlier export; clear that export's graphs."""
    if out.exists() and not out.is_dir():
        raise UsageError(f"{out}: is a file; pass a folder as --output-dir")
    if out.resolve() == model_dir.resolve():
        raise UsageError(f"{out}: the output folder must differ from the model folder")
    if (out / CONFIG_FILE).is_file() and not is_exported(out):
        raise UsageError(f"{out}: holds a {CONFIG_FILE} that is not an ONNX export; refusing "
                         "to overwrite it (pick another --output-dir)")
    shutil.rmtree(out / ONNX_DIR, ignore_errors=True)  # no stale variant survives a re-export


def layouts() -> dict[str, tuple[Callable, Callable]]:
    """Layout name -> (export function, parity check)."""
    from distilvit.export import ved
    from distilvit.export.onnx_export import export_captioner
    from distilvit.export.verify import verify_export

    return {"llava": (export_captioner, verify_export), ved.LAYOUT: (ved.export_ved, ved.verify_ved)}


def run(args: argparse.Namespace) -> int:
    from distilvit.model import Captioner

    cfg = apply_args(ExportConfig(), args, "export")
    if not 0.0 <= cfg.min_identical <= 1.0:
        raise UsageError(f"--min-identical {cfg.min_identical}: pass a share between 0 and 1")
    export, verify = layouts()[cfg.layout]
    model_dir, out = Path(args.model_dir), Path(args.output_dir)
    model = Captioner.from_pretrained(model_dir)  # checks the folder first
    prepare_output(model_dir, out)
    result = export(model, out, cfg.quantize)
    for name in CARRIED_FILES:
        if (model_dir / name).is_file():
            shutil.copy2(model_dir / name, out / name)
    print(f"exported {model_dir} to {out} ({cfg.layout} layout, {result.prefix_tokens} prefix "
          f"tokens, {result.shape.family} decoder)")
    for variant in result.variants:
        sizes = result.sizes_mb(variant)
        parts = ", ".join(f"{graph} {mb:.1f}" for graph, mb in sizes.items())
        print(f"  {variant:<5} {sum(sizes.values()):8.1f} MB  ({parts})")
    if cfg.verify:
        from distilvit.export.verify import check_fidelity

        report = verify(model, out, cfg)
        for line in report.lines():
            print(line)
        check_fidelity(report, cfg.min_identical)
    return 0
