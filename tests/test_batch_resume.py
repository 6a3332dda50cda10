"""Kill a real `distilvit caption --output` run with SIGKILL, rerun it: every input exactly
once, every caption equal to an uninterrupted run's, the output valid."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import distilvit
from batch_fixtures import (
    one_torch_thread,  # noqa: F401 (autouse fixture)
    read_jsonl,
)
from distilvit.batch.outputs import JOURNAL, read_parquet_records
from distilvit.cli import main

COUNT = 160


@pytest.fixture(scope="module")
def many(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("many")
    rng = np.random.default_rng(1)
    for i in range(COUNT):
        folder = root / f"{i // 60:02d}"
        folder.mkdir(exist_ok=True)
        array = rng.integers(0, 256, size=(24 + i % 17, 30, 3), dtype=np.uint8)
        Image.fromarray(array).save(folder / f"{i:04d}.png")
    return root


def _env() -> dict[str, str]:
    src = str(Path(distilvit.__file__).resolve().parents[1])
    return {**os.environ, "PYTHONPATH": src + os.pathsep + os.environ.get("PYTHONPATH", ""),
            "OMP_NUM_THREADS": "1"}


def _kill_when(args: list[str], ready, log: Path, timeout: float = 300.0) -> None:
    """Start the command, SIGKILL it as soon as `ready()` is true; it must still be running."""
    with log.open("ab") as err:
        proc = subprocess.Popen([sys.executable, "-m", "distilvit", "caption", *args],
                                env=_env(), stdout=subprocess.DEVNULL, stderr=err)
    deadline = time.monotonic() + timeout
    try:
        while not ready():
            assert proc.poll() is None, f"the run ended before the kill: {log.read_text()}"
            assert time.monotonic() < deadline, "no progress in time"
            time.sleep(0.005)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait()
    assert proc.returncode == -signal.SIGKILL


def _lines(path: Path) -> int:
    return path.read_bytes().count(b"\n") if path.exists() else 0


@pytest.fixture(scope="module")
def expected(trained_dir, many, tmp_path_factory) -> dict[str, str]:
    """The captions of an uninterrupted run."""
    reference = tmp_path_factory.mktemp("reference") / "reference.jsonl"
    assert main(["caption", str(trained_dir), str(many), "--output", str(reference),
                 "--batch-size", "4"]) == 0
    captions = {row["image"]: row["caption"] for row in read_jsonl(reference)}
    assert len(captions) == COUNT
    return captions


def test_sigkill_then_resume_jsonl(trained_dir, many, expected, tmp_path, capsys):

    out = tmp_path / "out.jsonl"
    args = [str(trained_dir), str(many), "--output", str(out), "--batch-size", "4"]
    _kill_when(args, lambda: _lines(out) >= 12, tmp_path / "log")
    first = _lines(out)
    _kill_when(args, lambda: _lines(out) >= first + 30, tmp_path / "log")
    second = _lines(out)
    assert 12 <= first < second < COUNT, (first, second)
    print(f"jsonl: killed with {first}, then {second} of {COUNT} records written")
    capsys.readouterr()
    assert main(["caption", *args]) == 0
    summary = capsys.readouterr().out
    assert f"captioned {COUNT - second}, failed 0, skipped {second} " in summary, summary

    rows = read_jsonl(out)  # every line parses: no torn or duplicated record
    images = [row["image"] for row in rows]
    assert len(images) == len(set(images)) == COUNT
    assert {row["image"]: row["caption"] for row in rows} == expected


def test_sigkill_then_resume_parquet(trained_dir, many, expected, tmp_path):

    out = tmp_path / "out.parquet"
    args = [str(trained_dir), str(many), "--output", str(out), "--batch-size", "4",
            "--part-rows", "10"]
    _kill_when(args, lambda: len(list(out.glob("part-*.parquet"))) >= 3
               and _lines(out / JOURNAL) >= 4, tmp_path / "log")
    _kill_when(args, lambda: len(list(out.glob("part-*.parquet"))) >= 8, tmp_path / "log")
    kept = len(read_parquet_records(out))
    assert kept < COUNT
    print(f"parquet: {kept} of {COUNT} records in parts after two kills")
    assert main(["caption", *args]) == 0
    rows = read_parquet_records(out)
    images = [row["image"] for row in rows]
    assert len(images) == len(set(images)) == COUNT
    assert {row["image"]: row["caption"] for row in rows} == expected
