"""Serving a captioner: a Flask REST API with micro-batching, and a Gradio demo.

    from distilvit.serve import create_app
    app = create_app("exported/")          # a WSGI app; POST /caption, GET /info, ...

`distilvit serve MODEL_DIR` runs it under waitress (or gunicorn with --workers N);
`distilvit gradio MODEL_DIR` starts the demo. See docs/serving.md.
"""

from __future__ import annotations

from typing import Any

__all__ = ["close_app", "create_app"]


def __getattr__(name: str) -> Any:
    # Lazy, so `distilvit.serve.config` (flags, --help) does not import Flask.
    if name in __all__:
        from distilvit.serve import app

        return getattr(app, name)
    raise AttributeError(name)
