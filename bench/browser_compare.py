"""Stock transformers.js `pipeline('image-to-text')` on several exported folders, in headless
Chromium, with the renderer's memory sampled from /proc.

Both folders are vision-encoder-decoder layouts at q8, so the one-line pipeline Firefox calls
runs each unchanged. Latency: one cross-origin isolated page loads every model, then captions
in interleaved rounds (tests/transformersjs/latency.mjs), median after a warm-up round.
A second such run captions one new token, which splits a caption into its first token
(encoder + prompt step) and each later step. Memory: one more browser per model, alone (load, reload, two captions), while a thread reads
the resident set (VmRSS) of that browser's processes (found through its profile folder and
the process tree) every 100 ms: the peak of the renderer processes (`--type=renderer`: the
page, its WASM heap and its worker threads) and of all of them together. RSS counts shared pages (the Chromium binary, fonts) in
each process; the renderer's figure is dominated by the WASM heap.
"""

from __future__ import annotations

import os
import statistics
import sys
import threading
from pathlib import Path

from browser_latency import photo
from transformersjs_latency import PAGES, TJS

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from browser_harness import ORT_DIST, WEB_DIR, browser_missing, run_script, serve  # noqa: E402

__all__ = ["browser_missing", "compare", "RssSampler"]


class RssSampler(threading.Thread):
    """Peak VmRSS of the processes whose command line names `marker` (node, and Chromium's
    browser process through its --user-data-dir) and of all their descendants."""

    def __init__(self, marker: str, interval: float = 0.1):
        super().__init__(daemon=True)
        self.marker, self.interval = marker, interval
        self.peak_renderer = self.peak_total = self.peak_one = 0
        self.processes = 0
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.wait(self.interval):
            renderer = total = count = 0
            for cmdline, rss in _descendants(self.marker):
                total += rss
                count += 1
                if "--type=renderer" in cmdline:
                    renderer += rss
                    self.peak_one = max(self.peak_one, rss)
            self.peak_renderer = max(self.peak_renderer, renderer)
            self.peak_total = max(self.peak_total, total)
            self.processes = max(self.processes, count)

    def stop(self) -> dict:
        self._stop_event.set()
        self.join()
        return {"renderer_peak_mb": self.peak_renderer / 1e6,
                "largest_renderer_peak_mb": self.peak_one / 1e6,
                "browser_peak_mb": self.peak_total / 1e6, "processes": self.processes}


def _descendants(marker: str) -> list[tuple[str, int]]:
    """(command line, resident bytes) of the marked processes and everything below them."""
    page = os.sysconf("SC_PAGE_SIZE")
    table: dict[int, tuple[int, str, int]] = {}  # pid -> (parent, cmdline, rss)
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            cmdline = Path(entry.path, "cmdline").read_bytes().replace(b"\0", b" ").decode(
                errors="replace")
            parent = int(Path(entry.path, "stat").read_text().rsplit(")", 1)[1].split()[1])
            rss = int(Path(entry.path, "statm").read_text().split()[1]) * page
        except (OSError, IndexError, ValueError):
            continue
        table[int(entry.name)] = (parent, cmdline, rss)
    chosen = {pid for pid, (_, cmdline, _) in table.items() if marker in cmdline}
    grew = True
    while grew:
        below = {pid for pid, (parent, _, _) in table.items() if parent in chosen} - chosen
        chosen |= below
        grew = bool(below)
    return [(table[pid][1], table[pid][2]) for pid in chosen]


def _mounts(folders: dict[str, Path], image: Path) -> dict[str, Path]:
    mounts = {"/": PAGES / "pages", "/tjs/": TJS / "dist",
              "/ort-tjs/": TJS / "node_modules" / "onnxruntime-web" / "dist",
              "/web/": WEB_DIR, "/ort/": ORT_DIST, "/images/": image.parent}
    mounts.update({f"/models/{name}/": folder for name, folder in folders.items()})
    return mounts


def _run(folders: dict[str, Path], image: Path, rounds: int, threads: int, new_tokens: int,
         workdir: Path, dtype: str) -> dict:
    generation = {"maxNewTokens": new_tokens, "minNewTokens": new_tokens, "numBeams": 1}
    with serve(_mounts(folders, image), isolated=True) as server:
        urls = [f"{server.url}/images/{image.name}?round={i}" for i in range(rounds)]
        runtimes = [{"runner": "ved", "model": name, "dtype": dtype} for name in folders]
        return run_script(PAGES / "latency.mjs",
                          {"url": f"{server.url}/index.html", "threads": threads,
                           "runtimes": runtimes, "urls": urls,
                           "options": {"generation": generation, "withIds": False}},
                          workdir, timeout=590)


def compare(folders: dict[str, Path], runs: int, threads: int, new_tokens: int,
            workdir: Path, dtype: str = "q8") -> dict:
    """{name: {load_ms, reload_ms, caption_ms, samples_ms, first_token_ms, per_token_ms,
    memory}} + the run's settings.

    `first_token_ms` is a caption of one new token (image fetch, preprocessing, encoder,
    prompt step), from a second interleaved run; `per_token_ms` = (caption_ms -
    first_token_ms) / (new_tokens - 1), the cost of each later step.
    """
    image = workdir / "images" / "photo.png"
    image.parent.mkdir(parents=True, exist_ok=True)
    photo(image)
    full = _latency(folders, image, runs, threads, new_tokens, workdir / "latency", dtype)
    first = _latency(folders, image, runs, threads, 1, workdir / "first-token", dtype)
    rows = full["designs"]
    for name, row in rows.items():
        row["first_token_ms"] = first["designs"][name]["caption_ms"]
        row["per_token_ms"] = (row["caption_ms"] - row["first_token_ms"]) / (new_tokens - 1)
    for name, folder in folders.items():
        alone = workdir / f"memory-{name}"
        sampler = RssSampler(str(alone))
        sampler.start()
        try:
            _run({name: folder}, image, 2, threads, new_tokens, alone, dtype)
        finally:
            rows[name]["memory"] = sampler.stop()
    return {"transformers_js": full["config"], "cross_origin_isolated": full["isolated"],
            "threads": threads, "dtype": dtype, "runs": runs, "designs": rows}


def _latency(folders: dict[str, Path], image: Path, runs: int, threads: int, new_tokens: int,
             workdir: Path, dtype: str) -> dict:
    out = _run(folders, image, runs + 1, threads, new_tokens, workdir, dtype)
    rows = {}
    for name, result in zip(folders, out["runtimes"], strict=True):
        samples = [s["ms"] for s in result["samples"]][1:]  # round 0 is the warm-up
        rows[name] = {"load_ms": result["loadMs"], "reload_ms": result["reloadMs"],
                      "caption_ms": statistics.median(samples), "samples_ms": samples,
                      "caption": result["samples"][0]["text"]}
    return {"config": out["config"], "isolated": out["isolated"], "designs": rows}
