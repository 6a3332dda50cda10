"""`distilvit serve` and `distilvit gradio` as commands: flags, usage errors, and the real
process (waitress, and gunicorn with --workers 2) answering on loopback."""

from __future__ import annotations

import signal
import subprocess
import sys

import psutil
import pytest
import requests

from distilvit.cli import main
from serve_fixtures import shapes_images
from serve_process import free_port, start_server, stop_server, wait_healthy

# See tests/test_serve_shutdown.py for the stop under load; here nothing is in flight.
STOP_WITHIN_S = 5.0


def test_serve_help_lists_the_flags(capsys):
    assert main(["serve", "--help"]) == 0
    out = capsys.readouterr().out
    for flag in ("--host", "--port", "--backend", "--workers", "--threads", "--cors",
                 "--max-upload-mb", "--max-pixels", "--max-num-beams", "--max-batch-size",
                 "--max-wait-ms", "--queue-size", "--onnx-variant"):
        assert flag in out, flag


def test_gradio_help_lists_the_flags(capsys):
    assert main(["gradio", "--help"]) == 0
    out = capsys.readouterr().out
    assert "--port" in out and "7860" in out and "--max-upload-mb" in out


@pytest.mark.parametrize("argv, says", [
    (["--port", "5000"], "not a distilvit model"),
    (["--max-images", "9", "--queue-size", "8"], "could never be queued"),
])
def test_usage_errors_are_one_line(tmp_path, capsys, argv, says):
    assert main(["serve", str(tmp_path), *argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and says in err and err.count("\n") == 1


def test_a_bad_flag_value_is_refused_while_parsing(tmp_path, capsys):
    """argparse's form: the usage, then one error line naming the flag and its range."""
    assert main(["serve", str(tmp_path), "--workers", "0"]) == 2
    errors = [line for line in capsys.readouterr().err.splitlines() if "error:" in line]
    assert errors == ["distilvit serve: error: argument --workers: must be >= 1 (got 0)"]


def test_serve_command_runs_waitress(shapes_export_dir):
    from distilvit.ort import OnnxCaptioner

    png = shapes_images(1, start=7)[0]
    process = start_server([str(shapes_export_dir), "--port", "0", "--threads", "4"])
    try:
        line = process.stdout.readline()  # "serving NAME (onnx) on http://127.0.0.1:PORT ..."
        assert "waitress" in line, process.stderr.read()
        url = line.split(" on ", 1)[1].split()[0]
        wait_healthy(url, process)
        response = requests.post(f"{url}/caption", files={"image": ("s.png", png)}, timeout=60)
        assert [c["caption"] for c in response.json()["captions"]] == \
            OnnxCaptioner(shapes_export_dir).caption([png])
    finally:
        code, seconds = stop_server(process, signal.SIGINT, STOP_WITHIN_S)
    assert code == 0 and seconds < STOP_WITHIN_S, (code, seconds, process.stderr.read())


def test_serve_command_with_workers_runs_gunicorn_processes(shapes_export_dir):
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    process = start_server([str(shapes_export_dir), "--port", str(port), "--workers", "2",
                     "--threads", "4"])
    try:
        wait_healthy(url, process)
        workers = psutil.Process(process.pid).children()
        assert len(workers) == 2  # two processes, each with its own model and batcher
        png = shapes_images(1)[0]
        for _ in range(4):
            response = requests.post(f"{url}/caption", files={"image": ("s.png", png)},
                                     timeout=60)
            assert response.status_code == 200
    finally:
        code, seconds = stop_server(process, signal.SIGTERM, STOP_WITHIN_S)
    assert code == 0 and seconds < STOP_WITHIN_S, (code, seconds, process.stderr.read())


def test_the_onnx_app_needs_no_torch(shapes_export_dir):
    """create_app on an export imports neither torch nor transformers (torch-free servers)."""
    code = ("import sys; from distilvit.serve import create_app, close_app; "
            f"app = create_app({str(shapes_export_dir)!r}); close_app(app); "
            "print(sorted(m for m in ('torch', 'transformers') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120, check=True).stdout
    assert out.strip() == "[]"
