"""`distilvit demo [EXPORTED_DIR] [--port 8000]`: the browser demo, served from this machine.

The page, the ES module and onnxruntime-web are served with the COOP/COEP headers that WASM
threads need; EXPORTED_DIR (a folder written by `distilvit export`) is served at /model/ and
loaded by the page at once. Without it the page asks for a model source (a Hub id or a URL).
Captioning happens in the browser: the server only hands out files.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from distilvit.cli_args import add_config_args, apply_args
from distilvit.config import DemoConfig
from distilvit.errors import UsageError
from distilvit.web.server import WEB_DIR, StaticServer, find_ort_dist

logger = logging.getLogger(__name__)

ORT_VERSION = "1.30.0"  # the onnxruntime-web of package.json
ORT_CDN = f"https://cdn.jsdelivr.net/npm/onnxruntime-web@{ORT_VERSION}/dist/"
PAGE = "demo_complete.html"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model_dir", nargs="?", metavar="EXPORTED_DIR",
                        help="folder written by `distilvit export`, served at /model/ and "
                             "loaded at once (omit it to type a Hub id or URL in the page)")
    add_config_args(parser, DemoConfig, "demo", "demo server")


def build_server(model_dir: str | None, cfg: DemoConfig) -> StaticServer:
    """The demo's server (not started): page + module at /, onnxruntime-web at /ort/."""
    mounts: dict[str, str | Path] = {"/": WEB_DIR}
    redirects = {}
    if model_dir:
        from distilvit.ort.files import read_export_config

        read_export_config(model_dir)  # a one-line ModelDirError unless it is an export
        mounts["/model/"] = model_dir
    ort_dir = _ort_dir(cfg.ort_dir)
    if ort_dir is not None:
        mounts["/ort/"] = ort_dir
    else:
        logger.warning("onnxruntime-web not found locally (npm install onnxruntime-web@%s, or "
                       "--ort-dir); the page will fetch it from %s", ORT_VERSION, ORT_CDN)
        redirects["/ort/"] = ORT_CDN
    try:
        return StaticServer(mounts, host=cfg.host, port=cfg.port, isolated=cfg.isolate,
                            redirects=redirects, index=PAGE)
    except OSError as exc:
        raise UsageError(f"cannot serve on {cfg.host}:{cfg.port} ({exc.strerror or exc}); "
                         "pass --port N (0 picks a free port)") from None


def _ort_dir(given: str) -> Path | None:
    if not given:
        return find_ort_dist()
    folder = Path(given)
    if not (folder / "ort.min.mjs").is_file():
        raise UsageError(f"{given}: no ort.min.mjs here; pass onnxruntime-web's dist folder "
                         "(node_modules/onnxruntime-web/dist)")
    return folder


def run(args: argparse.Namespace) -> int:
    cfg = apply_args(DemoConfig(), args, "demo")
    server = build_server(args.model_dir, cfg)
    model = f" with {args.model_dir} at /model/" if args.model_dir else ""
    print(f"serving the captioning demo{model} at {server.url}/ (Ctrl+C to stop)", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        print("stopped")
    return 0
