"""`--engine ray` on a local 2-CPU Ray: the same records as the local engine, and resume
across engines."""

from __future__ import annotations

import shutil
import tempfile

import pytest

from batch_fixtures import (
    add_bad_files,
    image_tree,
    one_torch_thread,  # noqa: F401 (autouse fixture)
    read_jsonl,
)
from distilvit.batch.outputs import read_parquet_records
from distilvit.cli import main

ray = pytest.importorskip("ray")


@pytest.fixture(scope="module", autouse=True)
def local_ray():
    """One small local Ray for the module, its files in a short temporary folder (Ray's
    socket paths must stay under ~100 characters)."""
    temp = tempfile.mkdtemp(prefix="ray", dir="/tmp")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, _temp_dir=temp,
             logging_level="ERROR")
    yield
    ray.shutdown()
    shutil.rmtree(temp, ignore_errors=True)


def _by_key(rows: list[dict]) -> dict[str, tuple]:
    return {row["key"]: (row["id"], row["image"], row["caption"], row["error"]) for row in rows}


def test_ray_engine_writes_the_local_engines_records(trained_dir, tmp_path, capsys):
    root = tmp_path / "photos"
    paths = image_tree(root, count=10, seed=11)
    add_bad_files(root)
    local, remote = tmp_path / "local.parquet", tmp_path / "ray.parquet"
    base = ["caption", str(trained_dir), str(root), "--batch-size", "3"]
    assert main([*base, "--output", str(local)]) == 1
    assert main([*base, "--output", str(remote), "--engine", "ray", "--ray-concurrency",
                 "2"]) == 1
    assert "captioned 10, failed 3, skipped 0" in capsys.readouterr().out
    local_rows, ray_rows = read_parquet_records(local), read_parquet_records(remote)
    assert len(ray_rows) == len(paths) + 3
    assert _by_key(ray_rows) == _by_key(local_rows)


def test_ray_resumes_a_local_run_and_keeps_dataset_ids(trained_dir, tmp_path, capsys):
    out = tmp_path / "shapes.parquet"
    reference = tmp_path / "reference.jsonl"
    common = ["caption", str(trained_dir), "--dataset", "shapes", "--split", "test"]
    assert main([*common, "--sample", "8", "--output", str(reference)]) == 0
    assert main([*common, "--sample", "3", "--output", str(out)]) == 0
    capsys.readouterr()
    assert main([*common, "--sample", "8", "--output", str(out), "--engine", "ray"]) == 0
    assert "captioned 5, failed 0, skipped 3" in capsys.readouterr().out
    rows = read_parquet_records(out)
    assert sorted(row["id"] for row in rows) == sorted(r["id"] for r in read_jsonl(reference))
    assert {r["id"]: r["caption"] for r in rows} == {
        r["id"]: r["caption"] for r in read_jsonl(reference)}
