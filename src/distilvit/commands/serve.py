"""`distilvit serve MODEL_DIR [--host 127.0.0.1] [--port 5000] [--backend onnx|torch] ...`.

A REST API (POST /caption, GET /health, /info, /, /openapi.json) under waitress, or under
gunicorn with `--workers N`; see docs/serving.md.
"""

from __future__ import annotations

import argparse

from distilvit.cli_args import add_config_args, apply_args
from distilvit.errors import UsageError
from distilvit.folders import read_config_json
from distilvit.serve.config import ServeConfig
from distilvit.serve.flags import add_model_arguments, model_settings


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_model_arguments(parser)
    add_config_args(parser, ServeConfig, "serve", "server")


def run(args: argparse.Namespace) -> int:
    from distilvit.serve.app import close_app, create_app
    from distilvit.serve.server import (
        WaitressServer,
        exit_now,
        serve_until_stopped,
        serve_with_gunicorn,
    )

    config = apply_args(ServeConfig(), args, "serve")
    if config.workers < 1 or config.threads < 1:
        raise UsageError("--workers and --threads must be at least 1")
    limits, batching, backend = model_settings(args)

    def make_app():
        return create_app(args.model_dir, backend_config=backend, limits=limits,
                          batching=batching, cors=config.cors)

    if config.workers > 1:
        # Each worker loads the model itself; catch a wrong folder here, in one line.
        read_config_json(args.model_dir, "distilvit train, merge or export")
        serve_with_gunicorn(make_app, close_app, config, limits)
        exit_now(0)
    app = make_app()
    try:
        server = WaitressServer(app, config, limits)
    except OSError as exc:
        close_app(app)
        raise UsageError(f"cannot listen on {config.host}:{config.port} ({exc.strerror})") from None
    description = app.extensions["distilvit"].backend.description
    print(f"serving {description['model']} ({description['backend']}) on {server.url} "
          f"(waitress, {config.threads} threads); Ctrl+C or SIGTERM stops", flush=True)
    try:
        received = serve_until_stopped(server, lambda grace_s: close_app(app, grace_s))
    finally:
        close_app(app, 0)  # no-op after a clean stop; else (an error) the worker stops too
    print(f"stopped ({received})", flush=True)
    exit_now(0)
