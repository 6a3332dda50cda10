"""The Flask app factory: `POST /caption`, `/health`, `/info`, `/` and `/openapi.json`.

    app = create_app("exported/")            # loads the model, starts the batch worker
    waitress.serve(app, port=5000)           # or any WSGI server; see distilvit.serve.server

Every error is JSON `{"error": "...", "status": N}`: client mistakes are 4xx (see
`distilvit.serve.inputs`), a full queue is 503 with Retry-After, and an internal failure is a
500 with a generic message (the traceback goes to the log, never to the client).
"""

from __future__ import annotations

import dataclasses
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flask import Flask, Response, jsonify, request
from werkzeug.exceptions import HTTPException

from distilvit import __version__
from distilvit.config import BackendConfig, InferenceConfig
from distilvit.errors import UsageError
from distilvit.serve import page
from distilvit.serve.backend import Backend, load_backend
from distilvit.serve.batcher import BatcherClosed, Done, MicroBatcher, QueueFull
from distilvit.serve.config import BatchConfig, LimitsConfig
from distilvit.serve.flags import check_limits
from distilvit.serve.inputs import ApiError, Upload, open_upload, read_request
from distilvit.serve.openapi import build_spec

logger = logging.getLogger(__name__)
STATE_KEY = "distilvit"


@dataclass
class ServeState:
    """What the routes share; `app.extensions["distilvit"]`."""

    backend: Backend
    limits: LimitsConfig
    batching: BatchConfig
    batcher: MicroBatcher
    cors: str

    def options(self, asked: dict[str, int]) -> tuple[tuple[str, int], ...]:
        """Fully resolved generation options: the batch key (equal options share a batch)."""
        defaults = self.backend.defaults
        resolved = {"num_beams": min(defaults.num_beams, self.limits.max_num_beams),
                    "max_new_tokens": min(defaults.max_new_tokens,
                                          self.limits.max_new_tokens_limit)}
        resolved.update(asked)
        return tuple(sorted(resolved.items()))

    def caption(self, images: list[Any], options: dict[str, int]) -> list[Done]:
        """Queue the images, wait for their batch(es); ApiError(503) when busy or closing."""
        try:
            futures = self.batcher.submit(self.options(options), images)
            return self.batcher.results(futures, self.limits.request_timeout_s)
        except QueueFull as exc:
            raise ApiError(503, str(exc), {"Retry-After": str(exc.retry_after_s)}) from None
        except (TimeoutError, BatcherClosed) as exc:
            raise ApiError(503, f"{exc}; retry later", {"Retry-After": "1"}) from None

    def info(self) -> dict[str, Any]:
        key = dict(self.options({}))
        return {**self.backend.description, "version": __version__,
                "limits": dataclasses.asdict(self.limits),
                "batching": dataclasses.asdict(self.batching),
                "generation": key, "stats": dataclasses.asdict(self.batcher.stats)}


def start_state(backend: Backend, limits: LimitsConfig, batching: BatchConfig,
                cors: str = "") -> ServeState:
    """The shared state with its batch worker running (also used by the Gradio app)."""
    check_limits(limits, batching)

    def run(key: tuple[tuple[str, int], ...], images: list[Any]) -> list[str]:
        return backend.caption(images, backend.generation(**dict(key)))

    return ServeState(backend, limits, batching, MicroBatcher(run, batching), cors)


def create_app(model_dir: str | Path | None = None, *, backend: Backend | None = None,
               backend_config: BackendConfig | None = None,
               inference: InferenceConfig | None = None, limits: LimitsConfig | None = None,
               batching: BatchConfig | None = None, cors: str = "") -> Flask:
    """A ready app for MODEL_DIR (or an already loaded `backend`); call `close_app` when done."""
    if backend is None:
        if model_dir is None:
            raise UsageError("create_app needs a model directory or a backend")
        backend = load_backend(model_dir, backend_config, inference)
    state = start_state(backend, limits or LimitsConfig(), batching or BatchConfig(), cors)
    app = Flask("distilvit.serve")
    app.config["MAX_CONTENT_LENGTH"] = state.limits.max_upload_bytes
    app.json.sort_keys = False
    app.extensions[STATE_KEY] = state
    _add_routes(app, state)
    _add_error_handlers(app, state.limits)
    app.after_request(_headers(state.cors))
    return app


def close_app(app: Flask, timeout_s: float = 10.0) -> None:
    """Stop the batch worker: queued requests get 503 now, the batch in progress gets
    `timeout_s` to finish (then 503)."""
    app.extensions[STATE_KEY].batcher.close(timeout_s)


def _add_routes(app: Flask, state: ServeState) -> None:
    spec = build_spec(state.limits)

    @app.post("/caption")
    def caption() -> Response:
        start = time.perf_counter()
        parsed = read_request(request, state.limits)
        images, decode_s = [], []
        for upload in parsed.uploads:
            began = time.perf_counter()
            images.append(open_upload(upload, state.limits))
            decode_s.append(time.perf_counter() - began)
        done = state.caption(images, parsed.options)
        total = time.perf_counter() - start
        return jsonify(captions=[_caption_json(u, d, s, total)
                                 for u, d, s in zip(parsed.uploads, done, decode_s,
                                                    strict=True)])

    @app.get("/health")
    def health() -> tuple[Response, int]:
        alive = state.batcher.alive
        body = {"status": "ok" if alive else "unavailable", "queue": state.batcher.depth}
        return jsonify(body), 200 if alive else 503

    @app.get("/info")
    def info() -> Response:
        return jsonify(state.info())

    @app.get("/openapi.json")
    def openapi() -> Response:
        return jsonify(spec)

    @app.get("/")
    def index() -> Response:
        key = dict(state.options({}))
        text, policy = page.render({**state.backend.description, **key,
                                    **dataclasses.asdict(state.limits)})
        response = Response(text, mimetype="text/html")
        response.headers["Content-Security-Policy"] = policy
        return response


def _caption_json(upload: Upload, done: Done, decode_s: float, total_s: float) -> dict:
    return {"image": upload.name, "caption": done.value, "batch_size": done.batch_size,
            "timings": {"decode_ms": round(decode_s * 1000, 3),
                        "queue_ms": round(done.queue_s * 1000, 3),
                        "inference_ms": round(done.run_s * 1000, 3),
                        "total_ms": round(total_s * 1000, 3)}}


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    response = jsonify(error=message, status=status)
    response.status_code = status
    response.headers.update(headers or {})
    return response


def _add_error_handlers(app: Flask, limits: LimitsConfig) -> None:
    @app.errorhandler(ApiError)
    def api_error(exc: ApiError) -> Response:
        return _error(exc.status, exc.message, exc.headers)

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> Response:
        message = exc.description or exc.name
        if exc.code == 413:
            message = f"request body over the server's {limits.max_upload_mb:g} MB limit"
        # Keep headers such as 405's Allow; the body is ours.
        kept = {k: v for k, v in exc.get_headers() if k.lower() != "content-type"}
        return _error(exc.code or 500, message, kept)

    @app.errorhandler(Exception)
    def internal_error(exc: Exception) -> Response:
        logger.exception("internal error on %s %s", request.method, request.path)
        return _error(500, "internal error; the server log has the details")


def _headers(cors: str):
    def add(response: Response) -> Response:
        response.headers["X-Content-Type-Options"] = "nosniff"
        origin = request.headers.get("Origin")
        if cors and origin and (cors == "*" or origin == cors):
            response.headers["Access-Control-Allow-Origin"] = cors
            response.headers["Vary"] = "Origin"
            if request.method == "OPTIONS":
                response.headers["Access-Control-Allow-Methods"] = "GET, POST, OPTIONS"
                response.headers["Access-Control-Allow-Headers"] = "Content-Type"
                response.headers["Access-Control-Max-Age"] = "600"
        return response
    return add
