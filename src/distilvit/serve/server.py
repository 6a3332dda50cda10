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

Stopping (SIGINT or SIGTERM, both graceful, exit code 0): no new connections; queued images
get 503 at once and the batch in progress `STOP_GRACE_S` to finish (then 503); each answer is
written before its connection closes, and every connection is closed by `STOP_TIMEOUT_S`
after the signal. The handlers are installed explicitly: a process started in the background
by a non-interactive shell inherits SIGINT *ignored*, and SIGTERM's default action kills
without cleanup. Under gunicorn, SIGQUIT remains the immediate stop.
"""

from __future__ import annotations

import logging
import os
import select
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable
from typing import Any, NoReturn

from waitress import wasyncore
from waitress.channel import HTTPChannel
from waitress.server import create_server

from distilvit.errors import UsageError
from distilvit.serve.config import LimitsConfig, ServeConfig

logger = logging.getLogger(__name__)

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
# After a stop signal: how long the batch in the model may run on before its requests get 503,
# and when every connection is closed, answered or not. Both whole seconds (gunicorn's
# graceful_timeout is an int); the process then ends at once (`exit_now`), well inside 5 s.
STOP_GRACE_S = 2
STOP_TIMEOUT_S = 3


class StopSignals:
    """SIGINT and SIGTERM, turned into a byte on a pipe that `wait` reads.

    The handler does nothing itself (Python's C-level handler writes the signal number to the
    wakeup fd whichever thread the kernel interrupted), so no lock is ever taken inside a
    handler and no signal is lost between a check and a wait. Main thread only.
    """

    def __enter__(self) -> StopSignals:
        self._read, self._write = os.pipe()
        os.set_blocking(self._write, False)
        self._previous_fd = signal.set_wakeup_fd(self._write)
        self._previous = {sig: signal.signal(sig, lambda *_: None) for sig in STOP_SIGNALS}
        return self

    def wait(self) -> signal.Signals:
        """Block until SIGINT or SIGTERM arrives; return it."""
        while True:
            for number in os.read(self._read, 64):
                if number in STOP_SIGNALS:
                    return signal.Signals(number)

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        signal.set_wakeup_fd(self._previous_fd)
        os.close(self._read)
        os.close(self._write)


class StoppableChannel(HTTPChannel):
    """Waitress's connection, remembering whether its client has sent anything yet.

    A connection the listener took while a stop began may not have sent its request yet (its
    client thread not scheduled): it is not idle, and closing it would reset the request the
    client is about to send. It gets until the stop's deadline to send it (and get its 503)."""

    has_spoken = False

    def received(self, data: bytes) -> bool:
        if data:
            self.has_spoken = True
        return super().received(data)


class WaitressServer:
    """A waitress server bound now (port 0 picks a free port), served by `start` on a thread."""

    def __init__(self, app: Callable, config: ServeConfig, limits: LimitsConfig):
        self.server = create_server(
            app, host=config.host, port=config.port, threads=config.threads,
            max_request_body_size=4 * limits.max_upload_bytes + (1 << 20),
            connection_limit=max(100, 4 * config.threads), ident="distilvit",
            clear_untrusted_proxy_headers=True)
        self.server.channel_class = StoppableChannel
        self._thread: threading.Thread | None = None
        self._done = threading.Event()  # set on the loop's thread when nothing is left open

    @property
    def port(self) -> int:
        return self.server.effective_port

    @property
    def url(self) -> str:
        host = self.server.effective_host
        return f"http://{f'[{host}]' if ':' in host else host}:{self.port}"

    def start(self) -> WaitressServer:
        """Run waitress's socket loop on a background thread."""
        self._thread = threading.Thread(target=self.server.run, name="distilvit-waitress",
                                        daemon=True)
        self._thread.start()
        return self

    def stop_accepting(self) -> None:
        """Accept what already waits in the listen backlog, then close the listening socket:
        later connections are refused instead of reset."""
        listener = self.server

        def close_listener() -> None:
            while select.select([listener.socket], [], [], 0)[0]:
                before = len(listener._map)
                listener.handle_accept()
                if len(listener._map) == before:
                    break  # the connection went away before we took it
            wasyncore.dispatcher.close(listener)  # the socket only; the trigger stays

        self._on_loop(close_listener)

    def close(self, timeout_s: float = 10.0) -> None:
        """Close each connection once it has no request left and its answer is sent; at
        `timeout_s` close the rest. Then stop the request threads and the loop."""
        deadline = time.monotonic() + timeout_s
        if self._thread is not None and self._thread.is_alive():
            self._on_loop(self._close_idle)
            # The loop thread checks its connections when nudged; answers finish in ms.
            while not self._done.wait(0.05) and time.monotonic() < deadline:
                self._on_loop(self._close_idle)
        if not self._done.is_set():
            self._on_loop(self._close_all)
        if self._thread is not None:
            self._thread.join(max(0.0, deadline - time.monotonic()))
        if self._thread is None or not self._thread.is_alive():
            self.server.trigger.close()
        self.server.task_dispatcher.shutdown(timeout=max(0.0, deadline - time.monotonic()))

    def _on_loop(self, thunk: Callable[[], None]) -> None:
        """Run `thunk` on the loop's thread (or here, when no loop runs)."""
        if self._thread is not None and self._thread.is_alive() and not self._done.is_set():
            self.server.trigger.pull_trigger(thunk)
        else:
            thunk()

    def _close_idle(self) -> None:
        channels = list(self.server.active_channels.values())
        idle = [c for c in channels if c.has_spoken and not c.requests and c.request is None
                and not c.total_outbufs_len]
        for channel in idle:
            channel.will_close = True  # closed by the loop's next write pass
        if len(idle) == len(channels):
            self._close_all()

    def _close_all(self) -> None:
        """Close every socket and take the trigger out: waitress's loop ends on an empty map."""
        if self._done.is_set():
            return
        self._done.set()
        trigger = self.server.trigger
        for channel in list(self.server._map.values()):
            if channel is trigger:
                channel.del_channel()  # its pipe stays open until the loop has ended
            else:
                channel.close()
        self.server._map.clear()


def exit_now(code: int = 0) -> NoReturn:
    """End a process that has stopped serving, without the interpreter's teardown.

    That teardown (final garbage collections over every object the model and its libraries
    made, torch's and ONNX Runtime's native destructors) measured 2-3 s on a loaded 2-core
    machine, more than half of the 5 s a stop may take, and frees nothing the OS does not.
    Logs and standard streams are flushed first; a server holds no other open output."""
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def serve_until_stopped(server: WaitressServer, release: Callable[[float], None]) -> str:
    """Serve until SIGINT or SIGTERM, then stop as the module docstring says; returns the
    signal's name. `release(grace_s)` fails or finishes the app's waiting requests. The
    handlers stay in place until the stop is done: a second signal does not cut it short."""
    with StopSignals() as signals:
        server.start()
        received = signals.wait()
        began = time.monotonic()
        logger.info("%s: stopping (answers in progress get %d s)", received.name, STOP_GRACE_S)
        server.stop_accepting()
        release(STOP_GRACE_S)
        server.close(max(0.0, STOP_TIMEOUT_S - (time.monotonic() - began)))
    return received.name


def serve_with_gunicorn(make_app: Callable[[], Any], release: Callable[[Any, float], None],
                        config: ServeConfig, limits: LimitsConfig) -> None:
    """Run `config.workers` gunicorn processes; each calls `make_app` (its own model) and, when
    told to stop, `release(app, grace_s)`. Returns when the master has stopped."""
    try:
        from gunicorn.app.base import BaseApplication
        from gunicorn.arbiter import Arbiter
    except ImportError:
        raise UsageError("--workers above 1 runs gunicorn, which is not installed (pip install "
                         "gunicorn); or use --workers 1 with more --threads") from None

    class GracefulArbiter(Arbiter):
        # gunicorn's SIGINT is a quick stop (workers exit mid-request); make it SIGTERM's.
        def handle_int(self) -> None:
            self.handle_term()

    class Application(BaseApplication):
        def load_config(self) -> None:
            settings = {"bind": f"{config.host}:{config.port}", "workers": config.workers,
                        "worker_class": graceful_worker(release), "threads": config.threads,
                        "timeout": int(limits.request_timeout_s) + 30,
                        "graceful_timeout": STOP_TIMEOUT_S,
                        "proc_name": "distilvit-serve", "accesslog": None,
                        "control_socket_disable": True}
            for key, value in settings.items():
                self.cfg.set(key, value)

        def load(self) -> Any:
            return make_app()

        def run(self) -> None:
            try:
                GracefulArbiter(self).run()
            except RuntimeError as exc:
                raise UsageError(f"gunicorn: {exc}") from None
            except SystemExit as stop:  # the arbiter's halt(): 0 after a stop signal
                if stop.code:
                    raise

    Application().run()


def graceful_worker(release: Callable[[Any, float], None]) -> type:
    """gunicorn's threaded worker, stopping like the waitress server: SIGINT is SIGTERM (a
    Ctrl+C in a terminal reaches the workers too), the listen backlog is accepted and the
    listening socket shut before the worker stops accepting, and a stop releases the app's waiting requests (`release(app, grace_s)`)
    on a thread of its own, not inside the signal handler."""
    from gunicorn.workers.gthread import ThreadWorker

    class GracefulWorker(ThreadWorker):
        def __init__(self, *args: Any, **kwargs: Any):
            super().__init__(*args, **kwargs)
            self._stopping = threading.Event()

        def init_signals(self) -> None:
            super().init_signals()
            signal.signal(signal.SIGINT, self.handle_exit)

        def handle_exit(self, sig: int, frame: Any) -> None:
            super().handle_exit(sig, frame)
            self._stopping.set()  # no lock of this Event is held by the main thread

        def load_wsgi(self) -> None:
            super().load_wsgi()
            threading.Thread(target=self._release_on_stop, name="distilvit-stop",
                             daemon=True).start()

        def run(self) -> None:
            super().run()
            self.log.info("Worker exiting (pid: %s)", self.pid)
            exit_now(0)

        def _release_on_stop(self) -> None:
            self._stopping.wait()
            release(self.wsgi, STOP_GRACE_S)

        def set_accept_enabled(self, enabled: bool) -> None:
            if not enabled and not self.alive:
                for listener in self.sockets:
                    while select.select([listener], [], [], 0)[0]:
                        before = self.nr_conns
                        self.accept(listener)
                        if self.nr_conns == before:
                            break  # another worker took it
                    # The socket stays open in the other workers; shut it for all of them so
                    # a late connect is refused instead of waiting in the backlog to be reset.
                    try:
                        listener.shutdown(socket.SHUT_RD)
                    except OSError:
                        pass  # already shut by another worker
            super().set_accept_enabled(enabled)

    return GracefulWorker
