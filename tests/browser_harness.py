"""Real-Chromium tests: serve folders on 127.0.0.1, drive the browser from a node script.

    from browser_harness import ORT_DIST, WEB_DIR, needs_browser, run_script, serve

    @needs_browser
    def test_page(tmp_path):
        with serve({"/": WEB_DIR, "/ort/": ORT_DIST, "/model/": folder}) as server:
            result = run_script(SCRIPTS / "my_check.mjs", {"url": server.url + "/x.html"},
                                tmp_path)
        assert result["caption"] == ...

The node side (tests/browser/harness.mjs) launches Debian's chromium through playwright-core
with LAUNCH_FLAGS and a fresh profile folder under `workdir`, hands the script the `args`
dict given here, and writes what the script returns as JSON; `run_script` returns it, or
raises BrowserScriptError with the script's error and the page's console. Nothing is ever
downloaded: the host resolver maps every name except localhost/127.0.0.1 to NOTFOUND.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import pytest

from distilvit.web.server import WEB_DIR, StaticServer

REPO = Path(__file__).resolve().parents[1]
SCRIPTS = REPO / "tests" / "browser"
NODE_MODULES = REPO / "node_modules"
ORT_DIST = NODE_MODULES / "onnxruntime-web" / "dist"
CHROMIUM = Path(os.environ.get("CHROMIUM", "/usr/bin/chromium"))
LAUNCH_FLAGS = (
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.1",
)

__all__ = ["CHROMIUM", "LAUNCH_FLAGS", "NODE_MODULES", "ORT_DIST", "SCRIPTS", "WEB_DIR",
           "BrowserScriptError", "browser_missing", "needs_browser", "run_script", "serve"]


class BrowserScriptError(AssertionError):
    """The node script failed: its error, stderr tail and the pages' console are attached."""


def browser_missing() -> str | None:
    """Why browser tests cannot run here (None when they can). `make install` provides all."""
    if shutil.which("node") is None:
        return "node is not installed"
    if not CHROMIUM.is_file():
        return f"{CHROMIUM} is missing (apt-get install chromium, or set CHROMIUM)"
    if not (NODE_MODULES / "playwright-core").is_dir() or not (ORT_DIST / "ort.min.mjs").is_file():
        return "npm packages are missing (run `make install`)"
    return None


needs_browser = pytest.mark.skipif(browser_missing() is not None,
                                   reason=browser_missing() or "")


def serve(mounts: dict[str, str | Path], isolated: bool = True,
          redirects: dict[str, str] | None = None) -> StaticServer:
    """A StaticServer on 127.0.0.1 and a free port; use it as a context manager.

    `isolated` adds the COOP/COEP headers (cross-origin isolation: WASM threads); `redirects`
    answers 302 from one URL prefix to another. `server.requests` logs what was served.
    """
    return StaticServer(mounts, host="127.0.0.1", port=0, isolated=isolated,
                        redirects=redirects)


def run_script(script: str | Path, args: dict[str, Any], workdir: Path,
               timeout: float = 90.0, flags: tuple[str, ...] = ()) -> Any:
    """Run `node script` in a fresh Chromium profile under `workdir`; return its JSON result.

    `args` reaches the script as `args`; `flags` are added to LAUNCH_FLAGS. Each call gets
    a new profile (nothing cached from an earlier call); within one call, pages share it.
    """
    workdir = Path(workdir)
    run_dir = _fresh_dir(workdir)
    config = {"launch": {"executablePath": str(CHROMIUM), "args": [*LAUNCH_FLAGS, *flags],
                         "userDataDir": str(run_dir / "profile")},
              "resultPath": str(run_dir / "result.json"), "args": args}
    config_path = run_dir / "config.json"
    config_path.write_text(json.dumps(config))
    # Chromium puts a unix socket in TMPDIR, whose path must stay under ~100 characters:
    # pytest's tmp paths are longer, so TMPDIR is a short folder of its own.
    short_tmp = Path(tempfile.mkdtemp(prefix="dvb-",
                                      dir="/tmp" if Path("/tmp").is_dir() else None))
    try:
        stderr = _run_node(Path(script), config_path, run_dir, short_tmp, timeout)
    finally:
        shutil.rmtree(short_tmp, ignore_errors=True)
    result_path = run_dir / "result.json"
    if not result_path.is_file():
        raise BrowserScriptError(f"{Path(script).name} wrote no result\n{stderr[-4000:]}")
    outcome = json.loads(result_path.read_text())
    if not outcome.get("ok"):
        console = "\n".join(outcome.get("console", [])[-40:])
        raise BrowserScriptError(f"{Path(script).name}: {outcome.get('error')}\n"
                                 f"--- page console ---\n{console}\n--- stderr ---\n"
                                 f"{stderr[-2000:]}")
    return outcome["result"]


def _fresh_dir(workdir: Path) -> Path:
    index = 0
    while (workdir / f"browser-run-{index}").exists():
        index += 1
    run_dir = workdir / f"browser-run-{index}"
    for sub in ("profile", "config", "cache"):
        (run_dir / sub).mkdir(parents=True)
    return run_dir


def _run_node(script: Path, config_path: Path, run_dir: Path, tmp: Path, timeout: float) -> str:
    env = {**os.environ, "TMPDIR": str(tmp), "XDG_CONFIG_HOME": str(run_dir / "config"),
           "XDG_CACHE_HOME": str(run_dir / "cache")}
    process = subprocess.Popen(["node", str(script), str(config_path)], cwd=REPO, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               start_new_session=True)
    try:
        output, _ = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill_group(process.pid)
        output, _ = process.communicate()
        raise BrowserScriptError(f"{script.name} timed out after {timeout:.0f} s\n"
                                 f"{(output or '')[-4000:]}") from None
    _kill_group(process.pid)  # a Chromium left behind by a crashed script
    return output or ""


def _kill_group(pid: int) -> None:
    """Kill what is left of the process group this harness started (node and its Chromium)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)
