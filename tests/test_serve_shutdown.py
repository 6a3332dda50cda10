"""`distilvit serve` always stops: SIGINT and SIGTERM, under waitress and gunicorn --workers 2,
with 32 clients in flight. Exit code 0 within 5 s of the signal; every request the server took
is answered 200 or 503 (none reset or cut off); later connections are refused, not reset."""

from __future__ import annotations

import signal
import threading
import time
from dataclasses import dataclass, field

import psutil
import pytest
import requests

from export_fixtures import export_once
from serve_fixtures import shapes_images
from serve_process import free_port, start_server, stop_server, wait_healthy

CLIENTS = 32
# The bound. The server closes every connection by STOP_TIMEOUT_S = 3 s after the
# signal (distilvit.serve.server); the rest covers process teardown (~0.4 s measured on a
# loaded 2-core machine) and gunicorn's master reaping its workers.
EXIT_WITHIN_S = 5.0
REQUESTS_PER_CLIENT = 200  # a bound on each loop; the signal comes long before it is reached


@pytest.fixture(scope="module")
def export_dir(trained_dir, tmp_path_factory):
    """The session's random-weight captioner exported (shared with test_export): every caption
    runs to the length limit, so batches are slow and requests pile up in the queue."""
    return export_once(trained_dir, tmp_path_factory)


@dataclass
class Load:
    """CLIENTS closed-loop clients on loopback, each posting one image per request."""

    url: str
    png: bytes
    stop: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)
    in_flight: int = 0
    answers: list[tuple[float, int]] = field(default_factory=list)  # (time, status)
    refused: list[float] = field(default_factory=list)  # times a connect was refused
    broken: list[str] = field(default_factory=list)  # resets, cut-off answers, timeouts

    def client(self) -> None:
        for _ in range(REQUESTS_PER_CLIENT):
            if self.stop.is_set():
                return
            with self.lock:
                self.in_flight += 1
            try:
                self._one()
            finally:
                with self.lock:
                    self.in_flight -= 1

    def _one(self) -> None:
        try:
            # A connection per request: no idle keep-alive connection to race the close.
            response = requests.post(f"{self.url}/caption", files={"image": ("s.png", self.png)},
                                     headers={"Connection": "close"}, timeout=30)
            self.answers.append((time.monotonic(), response.status_code))
        except requests.ConnectionError as exc:
            if _refused(exc):
                self.refused.append(time.monotonic())
            else:
                self.broken.append(repr(exc))
        except requests.RequestException as exc:
            self.broken.append(repr(exc))

    def served(self) -> int:
        return len(self.answers)


def _refused(exc: requests.ConnectionError) -> bool:
    """True when the connection was never made (the listener had closed): urllib3's
    NewConnectionError with ECONNREFUSED, which requests wraps without a cause chain."""
    return "NewConnectionError" in repr(exc) and "Connection refused" in repr(exc)


def _wait_for(condition, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


@pytest.mark.parametrize("workers", [1, 2], ids=["waitress", "gunicorn"])
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_server_stops_with_clients_in_flight(export_dir, workers, sig):
    port = free_port()
    process = start_server([str(export_dir), "--port", str(port), "--workers", str(workers),
                            "--threads", "4", "--max-batch-size", "8", "--queue-size", "64"])
    load = Load(f"http://127.0.0.1:{port}", shapes_images(1, start=3)[0])
    clients = [threading.Thread(target=load.client, daemon=True) for _ in range(CLIENTS)]
    try:
        wait_healthy(load.url, process)
        if workers > 1:
            _wait_for(lambda: len(psutil.Process(process.pid).children()) == workers, 60,
                      "gunicorn never had its workers")
        for thread in clients:
            thread.start()
        # All clients have a request out (queued in the batcher or in waitress's task queue)
        # and the server is answering them.
        _wait_for(lambda: load.in_flight == CLIENTS and load.served() >= 4, 120,
                  f"no load: {load.broken[:3]}")
        load.stop.set()  # no new requests; the ones in flight stay in flight
        signalled = time.monotonic()
        in_flight = load.in_flight
        code, seconds = stop_server(process, sig, EXIT_WITHIN_S)
    finally:
        load.stop.set()
        if process.poll() is None:
            process.kill()
        for thread in clients:
            if thread.ident is not None:  # started
                thread.join(30)
    log = process.stderr.read()[-3000:]
    assert code == 0 and seconds < EXIT_WITHIN_S, f"exit {code} after {seconds:.2f} s\n{log}"
    assert in_flight >= CLIENTS // 2, f"only {in_flight} requests in flight at the signal"
    assert not load.broken, f"{len(load.broken)} broken: {load.broken[:3]}\n{log}"
    assert {status for _, status in load.answers} <= {200, 503}, load.answers
    assert all(when > signalled for when in load.refused), "refused before the signal"
