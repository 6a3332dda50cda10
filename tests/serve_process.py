"""`distilvit serve` as a real process for the tests: start it the way a background job of a
non-interactive shell does (SIGINT ignored), wait until it answers, stop it with a signal."""

from __future__ import annotations

import os
import shlex
import socket
import subprocess
import sys
import time

import requests


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(args: list[str]) -> subprocess.Popen:
    """`python -m distilvit serve ARGS`, exec'd by `sh` after `trap '' INT`: the server starts
    with SIGINT ignored, as under `make test &` (the cause of a server that never stopped)."""
    command = shlex.join([sys.executable, "-m", "distilvit", "serve", *args])
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen(["sh", "-c", f"trap '' INT; exec {command}"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_healthy(url: str, process: subprocess.Popen, timeout_s: float = 90) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        assert process.poll() is None, process.stderr.read()
        try:
            if requests.get(f"{url}/health", timeout=2).status_code == 200:
                return
        except (requests.ConnectionError, requests.Timeout):
            pass  # not listening yet, or (gunicorn) no worker has taken the connection yet
        time.sleep(0.3)
    raise AssertionError(f"{url} never became healthy")


def stop_server(process: subprocess.Popen, sig: int, timeout_s: float) -> tuple[int, float]:
    """Send `sig`; the exit code and the seconds until exit. Killed (and failed by the
    caller's assertion on the time) when it has not exited within `timeout_s`."""
    began = time.monotonic()
    process.send_signal(sig)
    try:
        code = process.wait(timeout_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        return process.returncode, float("inf")
    return code, time.monotonic() - began
