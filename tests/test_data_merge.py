"""`distilvit data merge` on local sources: `shapes` plus an image `folder` that repeats one
shapes image (and one of its own), proving the merged splits leak-free; seeded; the dry run
and the push."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import datasets
import pytest

from distilvit.cli import main
from distilvit.data.merge import MergeConfig, content_hash, merge
from distilvit.data.synthetic import load_shapes
from distilvit.errors import UsageError
from fixtures.quality_helpers import picture

SAMPLE = 40


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    """Six images: one pixel-identical to shapes train[3], two identical to each other."""
    root = tmp_path_factory.mktemp("folder")
    shapes_image = list(load_shapes("train", sample=4))[3].image
    images = {"copy-of-shapes.png": shapes_image, "twin-a.png": picture(1),
              "twin-b.png": picture(1), "c.png": picture(2), "d.png": picture(3),
              "e.png": picture(4)}
    with open(root / "metadata.jsonl", "w") as handle:
        for name, image in images.items():
            image.save(root / name)
            handle.write(json.dumps({"file_name": name, "caption": f"Picture {name}."}) + "\n")
    return root


@pytest.fixture(scope="module")
def merged(folder, tmp_path_factory):
    cfg = MergeConfig(datasets=("shapes", "folder"), dataset_path=(f"folder={folder}",),
                      sample=SAMPLE, save_path=str(tmp_path_factory.mktemp("m") / "merged"))
    return merge(cfg)


def hashes_by_split(data) -> dict[str, list[str]]:
    return {split: [content_hash(row["image"]) for row in data[split]] for split in data}


def test_merged_schema_and_counts(merged):
    data, stats = merged
    assert set(data) == {"train", "validation", "test"}
    assert data["train"].column_names == ["image", "alt_text", "source", "source_id",
                                          "original_alt_text", "objects"]
    rows = [row for split in data for row in data[split]]
    by_source = defaultdict(int)
    for row in rows:
        by_source[row["source"]] += 1
        assert isinstance(row["alt_text"], list) and row["alt_text"]
    # 40 shapes images; 6 folder files less the copy of a shapes image and one twin.
    assert by_source == {"shapes": SAMPLE, "folder": 4}
    assert stats.duplicates == {"folder": 2}
    shapes_rows = [r for r in rows if r["source"] == "shapes"]
    assert all(r["objects"] and r["original_alt_text"] == [] for r in shapes_rows)


def test_no_image_is_in_two_splits(merged):
    data, _ = merged
    seen: dict[str, str] = {}
    for split, hashes in hashes_by_split(data).items():
        for key in hashes:
            assert key not in seen, f"image in {seen.get(key)} and {split}"
            seen[key] = split
    assert content_hash(list(load_shapes("train", sample=4))[3].image) in seen
    assert content_hash(picture(1)) in seen


def test_splits_are_seeded(folder, tmp_path, merged):
    data, _ = merged
    same = merge(MergeConfig(datasets=("shapes", "folder"), dataset_path=(f"folder={folder}",),
                             sample=SAMPLE, save_path=str(tmp_path / "again")))[0]
    assert hashes_by_split(same) == hashes_by_split(data)
    other = merge(MergeConfig(datasets=("shapes", "folder"), dataset_path=(f"folder={folder}",),
                              sample=SAMPLE, save_path=str(tmp_path / "seed1"), seed=1))[0]
    assert {s: set(h) for s, h in hashes_by_split(other).items()} != \
        {s: set(h) for s, h in hashes_by_split(data).items()}


def test_source_splits_stay_leak_free(folder, tmp_path):
    data, stats = merge(MergeConfig(datasets=("folder", "shapes"),
                                    dataset_path=(f"folder={folder}",), sample=SAMPLE,
                                    save_path=str(tmp_path / "by-source"), split_by="source"))
    hashes = [h for split in hashes_by_split(data).values() for h in split]
    assert len(hashes) == len(set(hashes))
    assert stats.duplicates == {"folder": 1, "shapes": 1}  # the folder came first this time


def test_dry_run_prints_what_would_be_pushed(folder, tmp_path, monkeypatch, capsys):
    def refuse(*args, **kwargs):
        raise AssertionError("a dry run tried to push")

    monkeypatch.setattr(datasets.DatasetDict, "push_to_hub", refuse)
    save = tmp_path / "merged"
    code = main(["data", "merge", "--datasets", "shapes", "folder", "--dataset-path",
                 f"folder={folder}", "--sample", "10", "--save-path", str(save),
                 "--push-to-hub", "me/alt-text-data", "--private", "--dry-run"])
    out = capsys.readouterr().out
    assert code == 0
    assert "dry run: would push 14 rows" in out
    assert "private dataset repository me/alt-text-data" in out
    for line in ("  train: ", "  validation: ", "  test: ", "alt_text (list of string)",
                 "shapes/train: "):
        assert line in out
    assert isinstance(datasets.load_from_disk(str(save)), datasets.DatasetDict)


def test_push_uploads_the_saved_dataset(folder, tmp_path, monkeypatch, capsys):
    calls = []

    def fake_push(self, repo_id, private=False, **kwargs):
        calls.append((repo_id, private, sorted(self)))

    monkeypatch.setattr(datasets.DatasetDict, "push_to_hub", fake_push)
    assert main(["data", "merge", "--datasets", "shapes", "--sample", "5", "--save-path",
                 str(tmp_path / "m"), "--push-to-hub", "me/data"]) == 0
    assert calls == [("me/data", False, ["test", "train", "validation"])]


@pytest.mark.parametrize("argv, message", [
    (["--datasets", "nope"], "unknown dataset 'nope'"),
    (["--datasets", "shapes", "--dataset-path", "coco=/x"], "not among the merged"),
    (["--datasets", "shapes", "--dataset-path", "no-equals"], "expected NAME=PATH"),
    (["--datasets", "folder"], "needs a path"),
    (["--datasets", "shapes", "--push-to-hub", "no-slash"], "expected ORG/NAME"),
])
def test_usage_errors_are_one_line(argv, message, tmp_path, capsys):
    code = main(["data", "merge", *argv, "--save-path", str(tmp_path / "m"), "--sample", "2"])
    err = capsys.readouterr().err
    assert code == UsageError.exit_code and message in err and len(err.strip().splitlines()) == 1


def test_quality_report_reads_the_merged_dataset(merged, tmp_path):
    data, _ = merged
    save = Path(data["train"].cache_files[0]["filename"]).parents[1]
    assert main(["quality", str(save), "--split", "train", "--clip-model", "none",
                 "--output-dir", str(tmp_path)]) == 0
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["examples"] == len(data["train"])
    assert summary["objects"]["origin"].startswith("objects column, caption vocabulary")
