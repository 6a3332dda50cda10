"""Batch captioning's inputs, outputs and crash safety, without a model."""

from __future__ import annotations

import csv
import json
import os

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image

from batch_fixtures import image_tree
from distilvit.batch.config import BatchConfig
from distilvit.batch.decode import Prepare
from distilvit.batch.inputs import Item, count_items, file_item, iter_items, manifest_rows
from distilvit.batch.outputs import (
    JOURNAL,
    JsonlOutput,
    ParquetOutput,
    read_parquet_records,
    write_part,
)
from distilvit.batch.resume import DoneKeys, DurableLog, read_jsonl
from distilvit.errors import UsageError
from distilvit.ort.preprocess import ImagePreprocessor


def _rec(i: int) -> dict:
    return {"id": f"i{i}", "image": f"i{i}.png", "caption": f"caption {i}", "error": None,
            "key": f"k{i}"}


def test_folders_are_walked_recursively_in_sorted_order(tmp_path):
    paths = image_tree(tmp_path / "photos", count=9)
    (tmp_path / "photos" / ".cache").mkdir()
    Image.new("RGB", (8, 8)).save(tmp_path / "photos" / ".cache" / "thumb.png")
    (tmp_path / "photos" / "readme.txt").write_text("not listed")
    items = list(iter_items([str(tmp_path / "photos")], BatchConfig()))
    assert sorted(item.image for item in items) == sorted(str(p) for p in paths)
    assert [item.image for item in items] == [item.image for item in
                                               iter_items([str(tmp_path / "photos")],
                                                          BatchConfig())]
    assert count_items([str(tmp_path / "photos")], BatchConfig()) == 9


def test_key_changes_when_the_file_changes(tmp_path):
    path = image_tree(tmp_path, count=1)[0]
    before = file_item(str(path)).key
    os.utime(path, ns=(1, 1))
    assert file_item(str(path)).key != before
    assert file_item(str(tmp_path / "gone.png")).key.endswith("|missing")


@pytest.mark.parametrize("kind", ["txt", "csv", "jsonl", "parquet"])
def test_manifests_list_paths_relative_to_themselves_and_keep_ids(tmp_path, kind):
    paths = image_tree(tmp_path / "imgs", count=4)
    rows = [{"file_name": str(p.relative_to(tmp_path)), "uid": f"u{i}"}
            for i, p in enumerate(paths)]
    manifest = tmp_path / f"list.{kind}"
    if kind == "txt":
        manifest.write_text("# comment\n" + "\n".join(r["file_name"] for r in rows) + "\n\n")
    elif kind == "csv":
        with manifest.open("w", newline="") as handle:
            writer = csv.DictWriter(handle, ["file_name", "uid"])
            writer.writeheader()
            writer.writerows(rows)
    elif kind == "jsonl":
        manifest.write_text("".join(json.dumps(r) + "\n" for r in rows))
    else:
        pq.write_table(pa.Table.from_pylist(rows), manifest)
    id_column = "" if kind == "txt" else "uid"
    listed = list(manifest_rows(str(manifest), id_column=id_column))
    assert [path for path, _ in listed] == [str(p) for p in paths]
    expected_ids = [r["file_name"] for r in rows] if kind == "txt" else [r["uid"] for r in rows]
    assert [item_id for _, item_id in listed] == expected_ids


def test_manifest_errors_are_one_line(tmp_path):
    manifest = tmp_path / "m.csv"
    manifest.write_text("name\nx.png\n")
    with pytest.raises(UsageError, match="--path-column"):
        list(manifest_rows(str(manifest)))
    with pytest.raises(UsageError, match="no such manifest"):
        list(manifest_rows(str(tmp_path / "none.csv")))
    (tmp_path / "m.xml").write_text("<x/>")
    with pytest.raises(UsageError, match="unknown manifest kind"):
        list(manifest_rows(str(tmp_path / "m.xml")))


def test_config_validation():
    with pytest.raises(UsageError, match="--workers"):
        BatchConfig(workers=0)
    with pytest.raises(UsageError, match="not both"):
        BatchConfig(dataset="shapes", manifest="m.txt")
    with pytest.raises(UsageError, match="writes Parquet"):
        BatchConfig(engine="ray", output="out.jsonl")
    assert BatchConfig(output="x.jsonl").resolved_format() == "jsonl"
    assert BatchConfig(output="x.parquet").resolved_format() == "parquet"


def test_done_keys_membership():
    done = DoneKeys(f"key{i}" for i in range(1000))
    assert len(done) == 1000
    assert all(f"key{i}" in done for i in range(1000))
    assert not any(f"other{i}" in done for i in range(1000))


def test_a_torn_last_line_is_dropped_and_whole_records_kept(tmp_path):
    path = tmp_path / "out.jsonl"
    log = DurableLog(path)
    log.append([_rec(0), _rec(1)])
    log.close()
    with path.open("ab") as handle:  # what a kill in the middle of a write leaves
        handle.write(json.dumps(_rec(2)).encode()[:17])
    output = JsonlOutput(path)
    assert "k0" in output.done and "k1" in output.done and "k2" not in output.done
    output.write([_rec(2)])
    output.close()
    assert [r["id"] for r in read_jsonl(path)] == ["i0", "i1", "i2"]


def test_parquet_journal_becomes_parts_without_duplicates(tmp_path):
    folder = tmp_path / "out.parquet"
    output = ParquetOutput(folder, rows_per_part=4)
    for start in range(0, 10, 3):
        output.write([_rec(i) for i in range(start, min(start + 3, 10))])
    output.close()
    rows = read_parquet_records(folder)
    assert sorted(r["id"] for r in rows) == [f"i{i}" for i in range(10)]
    assert (folder / JOURNAL).stat().st_size == 0
    # A kill between renaming a part into place and emptying the journal: rows in both.
    log = DurableLog(folder / JOURNAL)
    log.append([_rec(10), _rec(11)])
    log.close()
    write_part(folder, [_rec(10)])
    (folder / ".part-dead.parquet.tmp").write_bytes(b"PAR1 torn")  # a part never renamed
    reopened = ParquetOutput(folder)
    reopened.close()
    ids = sorted(r["id"] for r in read_parquet_records(folder))
    assert ids == sorted([f"i{i}" for i in range(12)])
    assert not list(folder.glob(".part-*"))
    assert "k11" in ParquetOutput(folder).done


def test_prepare_resizes_to_the_model_input_and_drafts_jpegs(tmp_path):
    prep = ImagePreprocessor({"size": {"height": 224, "width": 224}, "resample": 2,
                              "rescale_factor": 1 / 255, "image_mean": [0.5] * 3,
                              "image_std": [0.5] * 3})
    rng = np.random.default_rng(0)
    smooth = np.kron(rng.integers(0, 256, (30, 40, 3)), np.ones((40, 40, 1))).astype(np.uint8)
    path = tmp_path / "big.jpg"
    Image.fromarray(smooth).save(path, quality=92)
    item = Item(key="k", id="big", image=str(path))
    full = Prepare(prep, draft=False)(item)
    drafted = Prepare(prep, draft=True)(item)
    assert full.size == drafted.size == (224, 224)
    difference = np.abs(np.asarray(full, float) - np.asarray(drafted, float)).mean()
    assert difference < 4.0, difference  # grey levels, on a 0-255 scale
    assert Prepare(None)(item).size == (1600, 1200)
