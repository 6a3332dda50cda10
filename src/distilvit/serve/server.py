"""Running the app under a production WSGI server.

- One process (`--workers 1`, the default): waitress, a pure-Python threaded server. Its
  `--threads` request threads mostly wait on the batch queue, so one process with one model
  copy serves many concurrent clients; the model itself runs on one batch worker thread.
- Several processes (`--workers N`): gunicorn with threaded workers (`gthread`), each process
  loading its own model copy and running its own batcher (N x the memory; batches form per
  process). Use it when one model call cannot use the machine's cores.

Waitress reads a whole request body before the app sees it; its own cap is set a few times
above `--max-upload-mb`, so oversized bodies up to that cap get the app's JSON 413, and larger
ones waitress's plain-text 413 without being read further.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from waitress.server import create_server

from distilvit.errors import UsageError
from distilvit.serve.config import LimitsConfig, ServeConfig

logger = logging.getLogger(__name__)


class WaitressServer:
    """A waitress server bound now (port 0 picks a free port), served by `serve_forever`."""

    def __init__(self, app: Callable, config: ServeConfig, limits: LimitsConfig):
        self.server = create_server(
            app, host=config.host, port=config.port, threads=config.threads,
            max_request_body_size=4 * limits.max_upload_bytes + (1 << 20),
            connection_limit=max(100, 4 * config.threads), ident="distilvit",
            clear_untrusted_proxy_headers=True)
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return self.server.effective_port

    @property
    def url(self) -> str:
        host = self.server.effective_host
        return f"http://{f'[{host}]' if ':' in host else host}:{self.port}"

    def serve_forever(self) -> None:
        self.server.run()

    def start(self) -> WaitressServer:
        """Serve on a background thread (tests, benchmarks)."""
        self._thread = threading.Thread(target=self.serve_forever, name="distilvit-waitress",
                                        daemon=True)
        self._thread.start()
        return self

    def close(self, timeout_s: float = 10.0) -> None:
        """Stop the request threads and close every socket from inside the server's loop."""
        self.server.task_dispatcher.shutdown(timeout=timeout_s)
        channels = self.server._map  # waitress keeps its sockets here; the loop ends when empty

        def close_all() -> None:
            for channel in list(channels.values()):
                channel.close()
            channels.clear()

        if self._thread is None:
            close_all()
            return
        self.server.trigger.pull_trigger(close_all)  # runs close_all on the loop's thread
        self._thread.join(timeout_s)


def serve_with_gunicorn(make_app: Callable[[], Any], config: ServeConfig,
                        limits: LimitsConfig) -> None:
    """Run `config.workers` gunicorn processes; each calls `make_app` (its own model)."""
    try:
        from gunicorn.app.base import BaseApplication
    except ImportError:
        raise UsageError("--workers above 1 runs gunicorn, which is not installed (pip install "
                         "gunicorn); or use --workers 1 with more --threads") from None

    class Application(BaseApplication):
        def load_config(self) -> None:
            settings = {"bind": f"{config.host}:{config.port}", "workers": config.workers,
                        "worker_class": "gthread", "threads": config.threads,
                        "timeout": int(limits.request_timeout_s) + 30,
                        "proc_name": "distilvit-serve", "accesslog": None}
            for key, value in settings.items():
                self.cfg.set(key, value)

        def load(self) -> Any:
            return make_app()

    Application().run()
