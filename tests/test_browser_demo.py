"""`distilvit demo`: the server it builds (headers, mounts, errors) and its page in Chromium."""

from __future__ import annotations

import base64
import io
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from browser_harness import SCRIPTS, needs_browser, run_script
from distilvit.cli import main
from distilvit.commands.demo import PAGE, DemoConfig, build_server
from distilvit.ort import OnnxCaptioner
from test_browser_captioner import scene


def get(url: str) -> tuple[int, dict[str, str], bytes]:
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.status, dict(response.headers), response.read()


def test_demo_server_serves_page_module_runtime_and_model(shapes_export_dir):
    with build_server(str(shapes_export_dir), DemoConfig(port=0)) as server:
        status, headers, body = get(server.url + "/")
        assert status == 200 and b"<title>distilvit" in body
        assert headers["Cross-Origin-Opener-Policy"] == "same-origin"
        assert headers["Cross-Origin-Embedder-Policy"] == "require-corp"
        assert get(server.url + "/captioner.js")[1]["Content-Type"] == "text/javascript"
        assert get(server.url + "/ort/ort.min.mjs")[0] == 200
        wasm = get(server.url + "/ort/ort-wasm-simd-threaded.jsep.wasm")
        assert wasm[1]["Content-Type"] == "application/wasm"
        config = get(server.url + "/model/config.json")[2]
        assert config == (shapes_export_dir / "config.json").read_bytes()
        with pytest.raises(urllib.error.HTTPError, match="404"):
            get(server.url + "/model/../../../etc/passwd")
    assert PAGE == "demo_complete.html"


def test_demo_without_model_and_without_isolation(tmp_path):
    with build_server(None, DemoConfig(port=0, isolate=False)) as server:
        status, headers, _ = get(server.url + "/demo_complete.html")
        assert status == 200 and "Cross-Origin-Opener-Policy" not in headers
        with pytest.raises(urllib.error.HTTPError, match="404"):
            get(server.url + "/model/config.json")


def test_demo_refuses_folders_that_are_not_exports(tmp_path, capsys):
    checkpoint = tmp_path / "checkpoint"
    checkpoint.mkdir()
    (checkpoint / "config.json").write_text("{}")
    assert main(["demo", str(tmp_path / "nope")]) == 2
    assert main(["demo", str(checkpoint)]) == 2
    assert main(["demo", "--ort-dir", str(tmp_path), "--port", "0"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 3 and all(line.startswith("error: ") for line in err)
    assert "no such exported model directory" in err[0]
    assert "not an exported model" in err[1] and "ort.min.mjs" in err[2]


def _png(index: int) -> str:
    buffer = io.BytesIO()
    scene(index, 96).save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode()


@needs_browser
def test_demo_page_in_chromium(shapes_export_dir, tmp_path):
    images = {f"scene{i}.png": _png(i) for i in (6, 7, 8)}
    expected = {}
    for dtype in ("int8", "fp32"):
        model = OnnxCaptioner(shapes_export_dir, dtype)
        expected[dtype] = {name: model.caption(base64.b64decode(data))[0]
                           for name, data in images.items()}
    first, second, third = images
    text = base64.b64encode(b"shopping list: milk, eggs\n").decode()
    with build_server(str(shapes_export_dir), DemoConfig(port=0)) as server:
        out = run_script(SCRIPTS / "demo.mjs", {"url": server.url + "/", "images": images,
                                                "text": text, "missingSource": "./missing/"},
                         tmp_path, timeout=100)
    assert out["loaded"]["source"] == "./model/" and not out["loaded"]["error"]
    assert "Model loaded" in out["loaded"]["status"] and "INT8" in out["loaded"]["status"]
    assert out["a11y"] == {"unlabelled": [], "captionLive": "polite", "statusRole": "status",
                           "errorRole": "alert", "dropTabIndex": 0}
    for step, name in (("picker", first), ("keyboard", second), ("drop", third),
                       ("paste", first), ("afterFailure", second)):
        got = out[step]
        assert got["caption"] == expected["int8"][name] and not got["error"], step
        assert got["alt"] == got["caption"] and got["timings"], step
    assert out["notImage"]["caption"] == ""
    assert "notes.txt: not a readable image" in out["notImage"]["error"]
    assert out["fp32"]["caption"] == expected["fp32"][first] and "FP32" in out["fp32"]["status"]
    failed = out["failedDownload"]
    assert "could not download" in failed["error"] and "/missing/config.json" in failed["error"]
    assert "HTTP 404" in failed["error"] and "Still using the previous model" in failed["status"]
    assert "missing: WebAssembly" in out["unsupported"]["message"]
    assert out["unsupported"]["loadDisabled"] is True


def test_page_files_are_package_data():
    """Everything the page loads lives beside the server module (shipped as package data)."""
    from distilvit.web.server import WEB_DIR

    page = (WEB_DIR / PAGE).read_text()
    for name in ("demo.js", "demo.css"):
        assert name in page and (WEB_DIR / name).is_file()
    imports = {line.split("'")[1] for path in WEB_DIR.glob("*.js")
               for line in path.read_text().splitlines()
               if line.startswith(("import ", "export {")) and " from './" in line}
    assert imports and all((WEB_DIR / Path(name).name).is_file() for name in imports)
