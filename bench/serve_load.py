"""Load test of `distilvit serve`: captions/s, latency, errors and server memory, with
micro-batching on (`--max-batch-size 16`) and off (`--max-batch-size 1`).

Two models: the `tiny` preset trained on shapes (`--tiny DIR`, a checkpoint or an export;
default runs/quick-onnx, else one is trained briefly on 2,400 scenes) and the `base`
architecture (SigLIP-base/16-224 + SmolLM-135M shapes) with random weights, built and exported
as bench/export_latency.py does (`--base DIR` reuses an export); `base` requests ask for
20 new tokens (random weights seldom stop earlier). Each model runs in two server
processes (`python -m distilvit serve`, waitress, the same flags but the batch size), both
started before any load; for each client count the batched and the unbatched server are
loaded in turn (the machine is shared: interleaving spreads its load changes over both).

Clients are closed-loop threads on loopback, each posting one shapes scene per request
(multipart) and sending the next when the answer comes, for `--seconds`. Reported per run:
captions/s, p50/p99 latency, errors (non-200 or failed connections), the server's mean batch
size; per server its peak RSS (VmHWM). `ratio` = batched / unbatched captions/s at the
largest client count, the smaller of the two models'. `--soak-minutes M` then loads the
batched tiny server with the largest client count for M minutes, sampling its RSS.

    python bench/serve_load.py [--tiny DIR] [--base DIR] [--seconds 20] [--clients 1 8 32]
        [--variant int8] [--soak-minutes 5] [--json runs/bench/serve_load.json] [--keep DIR]
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import onnxruntime
import requests

from bench_io import write_json
from distilvit.bases import random_captioner
from distilvit.cli import main as cli
from distilvit.config import ShapesConfig, preset
from distilvit.data.synthetic import make_example
from distilvit.export.onnx_export import export_captioner
from distilvit.ort.files import is_exported
from export_latency import sizes
from generate_latency import NEW_TOKENS

QUICK_EXPORT = Path(__file__).resolve().parents[1] / "runs" / "quick-onnx"  # make train-quick + export
MODES = {"batched": 16, "unbatched": 1}  # --max-batch-size


# ----- models -----------------------------------------------------------------------------
def tiny_model(given: Path | None, work: Path, variant: str) -> Path:
    """An export of the trained tiny preset: the one given, runs/quick-onnx, or a new one."""
    source = given or (QUICK_EXPORT if QUICK_EXPORT.is_dir() else None)
    if source is None:
        source = work / "tiny"
        print("training the tiny preset on 2,400 shapes scenes (no --tiny given)", flush=True)
        assert cli(["train", "--preset", "tiny", "--dataset", "shapes", "--sample", "2400",
                    "--num-train-epochs", "4", "--precision", "fp32", "--projection-lr",
                    "0.005", "--lora-lr", "0.003", "--output-dir", str(source),
                    "--cache-dir", str(work / "cache"), "--no-final-eval",
                    "--checkpoint-every", "0"]) == 0
    if is_exported(source):
        return source
    out = work / "tiny-onnx"
    quantize = "int8" if variant == "int8" else "none"
    assert cli(["export", str(source), "--output-dir", str(out), "--quantize", quantize,
                "--no-verify"]) == 0
    return out


def base_model(given: Path | None, work: Path) -> Path:
    """The base architecture with random weights, exported (fp32 + INT8)."""
    if given is not None and is_exported(given):
        return given
    out = given or work / "base-onnx"
    print(f"exporting the base architecture (random weights) to {out}", flush=True)
    export_captioner(random_captioner(preset("base")), out, quantize="int8")
    return out


# ----- servers ----------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    """`python -m distilvit serve MODEL` in its own process."""

    def __init__(self, model: Path, batch: int, variant: str, threads: int):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process = subprocess.Popen(
            [sys.executable, "-m", "distilvit", "serve", str(model), "--port", str(self.port),
             "--threads", str(threads), "--onnx-variant", variant, "--max-batch-size",
             str(batch), "--queue-size", "256"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)

    def wait(self, timeout_s: float = 300) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited: {self.process.stderr.read()[-2000:]}")
            try:
                if requests.get(f"{self.url}/health", timeout=2).ok:
                    return
            except requests.ConnectionError:
                pass
            time.sleep(0.5)
        raise RuntimeError(f"{self.url} did not start in {timeout_s:.0f} s")

    def memory_mb(self) -> dict[str, float]:
        """Current RSS and peak RSS (the kernel's high-water mark) in MB."""
        status = Path(f"/proc/{self.process.pid}/status").read_text()
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        return {"rss_mb": int(fields["VmRSS"].split()[0]) / 1024,
                "peak_rss_mb": int(fields["VmHWM"].split()[0]) / 1024}

    def stats(self) -> dict:
        return requests.get(f"{self.url}/info", timeout=10).json()["stats"]

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()


# ----- load -------------------------------------------------------------------------------
def scenes(count: int = 64) -> list[bytes]:
    import io

    out = []
    for index in range(count):
        buffer = io.BytesIO()
        make_example("test", index, ShapesConfig()).image.save(buffer, "PNG")
        out.append(buffer.getvalue())
    return out


def load(server: Server, images: list[bytes], clients: int, seconds: float,
         fields: dict[str, str]) -> dict:
    """`clients` closed-loop clients for `seconds`; figures over every finished request."""
    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()
    before = server.stats()
    start = time.monotonic()
    deadline = start + seconds

    def client(index: int) -> None:
        session = requests.Session()
        turn = index
        while time.monotonic() < deadline:
            body = images[turn % len(images)]
            turn += clients
            began = time.perf_counter()
            try:
                ok = session.post(f"{server.url}/caption", files={"image": ("s.png", body)},
                                  data=fields, timeout=300).status_code == 200
            except requests.RequestException:
                ok = False
            with lock:
                if ok:
                    latencies.append((time.perf_counter() - began) * 1000)
                else:
                    errors[0] += 1

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - start
    after = server.stats()
    batches = after["batches"] - before["batches"]
    return {"clients": clients, "seconds": round(elapsed, 2), "requests": len(latencies),
            "errors": errors[0], "captions_per_s": len(latencies) / elapsed,
            "p50_ms": float(np.percentile(latencies, 50)) if latencies else None,
            "p99_ms": float(np.percentile(latencies, 99)) if latencies else None,
            "mean_batch": (after["images"] - before["images"]) / batches if batches else 0.0}


def measure_model(name: str, folder: Path, args: argparse.Namespace, images: list[bytes],
                  fields: dict[str, str]) -> tuple[dict, Server]:
    """Both servers of one model through every client count; the batched one stays up."""
    threads = max(args.clients) + 8
    servers = {mode: Server(folder, batch, args.variant, threads) for mode, batch in
               MODES.items()}
    for server in servers.values():
        server.wait()
        load(server, images, 2, 2.0, fields)  # warm-up: sessions, allocator, caches
    runs: dict[str, dict[str, dict]] = {mode: {} for mode in MODES}
    for clients in args.clients:
        for mode, server in servers.items():
            row = load(server, images, clients, args.seconds, fields)
            runs[mode][str(clients)] = {**row, **server.memory_mb()}
            print(f"{name:<5} {mode:<9} {clients:>3} clients: {row['captions_per_s']:7.2f} "
                  f"captions/s, p50 {row['p50_ms'] or 0:8.1f} ms, p99 {row['p99_ms'] or 0:8.1f}"
                  f" ms, errors {row['errors']}, mean batch {row['mean_batch']:.1f}", flush=True)
    top = str(max(args.clients))
    servers["unbatched"].stop()
    report = {"folder": str(folder), "variant": args.variant, "request": fields, **runs,
              "ratio": runs["batched"][top]["captions_per_s"]
              / max(runs["unbatched"][top]["captions_per_s"], 1e-9),
              "size_mb": sizes(folder, [args.variant])[args.variant]["total"]}
    return report, servers["batched"]


def soak(server: Server, images: list[bytes], clients: int, minutes: float,
         fields: dict[str, str]) -> dict:
    """Load for `minutes`, sampling RSS every 5 s (load runs on its own threads)."""
    samples: list[tuple[float, float]] = []
    result: dict = {}
    worker = threading.Thread(target=lambda: result.update(
        load(server, images, clients, minutes * 60, fields)))
    start = time.monotonic()
    worker.start()
    while worker.is_alive():
        samples.append((time.monotonic() - start, server.memory_mb()["rss_mb"]))
        worker.join(5.0)
    times, rss = np.array([s[0] for s in samples]), np.array([s[1] for s in samples])
    minute = times <= min(60.0, times[-1] / 2)
    last = times >= times[-1] - min(60.0, times[-1] / 2)
    slope = float(np.polyfit(times / 60, rss, 1)[0]) if len(samples) > 2 else 0.0
    # RSS added in each whole minute: a warm-up grows and levels off, a leak keeps growing.
    marks = [float(np.interp(60 * k, times, rss)) for k in range(int(times[-1] // 60) + 1)]
    return {**result, "minutes": minutes, "rss_first_minute_mb": float(rss[minute].mean()),
            "rss_last_minute_mb": float(rss[last].mean()), "rss_max_mb": float(rss.max()),
            "rss_slope_mb_per_min": slope,
            "rss_growth_per_minute_mb": [round(b - a, 2) for a, b in
                                         zip(marks[:-1], marks[1:], strict=True)],
            "samples": [[round(t, 1), round(m, 1)] for t, m in samples]}


# ----- report -----------------------------------------------------------------------------
def print_table(report: dict) -> None:
    print(f"\nloopback, {report['cpus']} CPUs (shared), onnxruntime {report['onnxruntime']}, "
          f"{report['seconds']:g} s per run; load average {report['load_average'][0]:.1f}")
    print(f"{'model':<6}{'mode':<11}{'clients':>8}{'capt/s':>9}{'p50 ms':>10}{'p99 ms':>10}"
          f"{'errors':>8}{'batch':>7}{'peak RSS MB':>13}")
    for name, model in report["models"].items():
        for mode in MODES:
            for clients, row in model[mode].items():
                print(f"{name:<6}{mode:<11}{clients:>8}{row['captions_per_s']:>9.2f}"
                      f"{row['p50_ms'] or 0:>10.1f}{row['p99_ms'] or 0:>10.1f}"
                      f"{row['errors']:>8}{row['mean_batch']:>7.1f}{row['peak_rss_mb']:>13.0f}")
        print(f"{name}: batched / unbatched at {max(report['clients'])} clients = "
              f"{model['ratio']:.2f}x")
    if "soak" in report:
        s = report["soak"]
        print(f"soak {s['minutes']:g} min, {s['clients']} clients: {s['captions_per_s']:.1f} "
              f"captions/s, errors {s['errors']}, RSS first minute {s['rss_first_minute_mb']:.0f}"
              f" MB, last minute {s['rss_last_minute_mb']:.0f} MB, slope "
              f"{s['rss_slope_mb_per_min']:+.2f} MB/min, per minute "
              f"{s['rss_growth_per_minute_mb']} MB")
    print(f"ratio (smaller of the models): {report['ratio']:.2f}x")


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiny", type=Path, help="trained tiny checkpoint or its export")
    parser.add_argument("--base", type=Path, help="an export of the base architecture")
    parser.add_argument("--seconds", type=float, default=20.0, help="load time per run")
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--variant", default="int8", choices=["fp32", "int8"])
    parser.add_argument("--models", nargs="+", default=["tiny", "base"],
                        choices=["tiny", "base"])
    parser.add_argument("--soak-minutes", type=float, default=0.0,
                        help="then load the batched tiny server this long, sampling RSS")
    parser.add_argument("--json", type=Path, help="write the figures here")
    parser.add_argument("--keep", type=Path, help="build models here (kept), not in a temp dir")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        work = args.keep or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        report = run(args, work)
    print_table(report)
    write_json(report, args.json)
    return report


def run(args: argparse.Namespace, work: Path) -> dict:
    images = scenes()
    folders = {"tiny": lambda: tiny_model(args.tiny, work, args.variant),
               "base": lambda: base_model(args.base, work)}
    # base: random weights rarely stop early; a fixed caption length keeps runs comparable.
    fields = {"tiny": {}, "base": {"max_new_tokens": str(NEW_TOKENS)}}
    report = {"cpus": os.cpu_count(), "onnxruntime": onnxruntime.__version__,
              "seconds": args.seconds, "clients": args.clients, "models": {}}
    for name in args.models:
        model, batched = measure_model(name, folders[name](), args, images, fields[name])
        report["models"][name] = model
        if name == "tiny" and args.soak_minutes > 0:
            report["soak"] = soak(batched, images, max(args.clients), args.soak_minutes,
                                  fields[name])
            report["soak"]["peak_rss_mb"] = batched.memory_mb()["peak_rss_mb"]
        batched.stop()
    report["ratio"] = min(m["ratio"] for m in report["models"].values())
    report["load_average"] = os.getloadavg()
    return report


if __name__ == "__main__":
    main()
