"""The registry and every caption source, read from tiny local copies in each real schema."""

from __future__ import annotations

import logging
import re
from collections import Counter
from pathlib import Path

import datasets
import pytest
from PIL import Image

from data_fixtures import (
    HUB_BUILDERS,
    PEXELS_SIZE,
    VALIDATION_IDS,
    build_folder_csv,
    build_folder_jsonl,
)
from distilvit.data.registry import load_examples, source_names
from distilvit.data.schema import SPLITS, Example
from distilvit.data.splits import canonical_split, check_split, seeded_split
from distilvit.errors import UsageError

HUB_NAMES = ["flickr", "coco", "pexels", "docornot", "validation", "textcaps"]


@pytest.fixture(autouse=True)
def offline(tmp_path, monkeypatch):
    """No network, and anything `datasets` caches goes to a tmp dir."""
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", tmp_path / "hf-cache")


@pytest.fixture(scope="module")
def hub_root(tmp_path_factory) -> Path:
    """One local copy per hub source, named after it (the layout `all` takes as its path)."""
    root = tmp_path_factory.mktemp("hub")
    for name, build in HUB_BUILDERS.items():
        build(root / name)
    return root


def load(name: str, split: str, root: Path | None = None, **kw) -> list[Example]:
    path = None if root is None else str(root / name if name in HUB_BUILDERS else root)
    return list(load_examples(name, split, path=path, **kw))


def ids(examples: list[Example]) -> list[str]:
    return [example.id for example in examples]


def skipped(caplog) -> int:
    """Bad rows reported by the end-of-source warnings captured so far."""
    return sum(int(n) for record in caplog.records if record.levelno == logging.WARNING
               for n in re.findall(r"skipped (\d+) bad rows", record.getMessage()))


def assert_normalised(example: Example, source: str, split: str) -> None:
    assert isinstance(example.image, Image.Image) and example.image.mode == "RGB"
    assert example.source == source and example.split == split
    assert isinstance(example.id, str) and example.id
    assert example.captions and all(c == c.strip() and c for c in example.captions)


def load_all_splits(name: str, root: Path, **kw) -> dict[str, list[Example]]:
    return {split: load(name, split, root, **kw) for split in SPLITS}


def assert_disjoint(by_split: dict[str, list[Example]]) -> set[str]:
    """No id in two splits (nor twice in one); returns every id seen."""
    counts = Counter(i for examples in by_split.values() for i in ids(examples))
    assert [i for i, n in counts.items() if n > 1] == []
    return set(counts)


# --- registry -----------------------------------------------------------------------------------


def test_every_source_is_registered():
    assert set(source_names()) == {*HUB_NAMES, "all", "folder", "shapes"}


@pytest.mark.parametrize(("name", "split", "kw", "says"), [
    ("cocoa", "train", {}, "unknown dataset 'cocoa'"),
    ("coco", "dev", {}, "unknown split 'dev'"),
    ("coco", "train", {"sample": 0}, "sample must be a positive"),
    ("coco", "train", {"path": "/no/such/copy"}, "/no/such/copy: no such file"),
    ("folder", "train", {}, "needs a path"),
    ("shapes", "train", {"path": "."}, "takes no path"),
])
def test_bad_arguments_fail_at_once_with_one_line(name, split, kw, says):
    with pytest.raises(UsageError) as error:
        load_examples(name, split, **kw)  # no iteration: checked before anything is opened
    assert says in str(error.value) and "\n" not in str(error.value)


def test_all_needs_a_copy_of_every_source(tmp_path, hub_root):
    (tmp_path / "flickr").mkdir()
    with pytest.raises(UsageError, match="missing coco, pexels, docornot, validation, textcaps"):
        load_examples("all", "train", path=str(tmp_path))


def test_a_single_saved_dataset_cannot_stand_for_several_hub_splits(hub_root):
    with pytest.raises(UsageError, match="save a DatasetDict"):
        list(load_examples("textcaps", "train", path=str(hub_root / "validation")))


def test_a_copy_without_the_hub_split_is_refused(hub_root):
    with pytest.raises(UsageError, match="cannot read split 'test'"):
        list(load_examples("flickr", "train", path=str(hub_root / "pexels")))


# --- splits ---------------------------------------------------------------------------------


def test_seeded_split_is_stable_and_follows_the_fractions():
    keys = [f"img-{n}" for n in range(20000)]
    first = [seeded_split(k, seed=3) for k in keys]
    assert first == [seeded_split(k, seed=3) for k in keys]
    shares = Counter(first)
    assert abs(shares["train"] / 20000 - 0.90) < 0.01
    assert abs(shares["validation"] / 20000 - 0.05) < 0.01
    assert first != [seeded_split(k, seed=4) for k in keys]
    assert {seeded_split(k, 0, (0.0, 0.5, 0.5)) for k in keys[:200]} == {"validation", "test"}


def test_split_names():
    assert [canonical_split(n) for n in ("val", "dev", "Train", "testing", "restval", None)] == [
        "validation", "validation", "train", "test", None, None]
    assert check_split("test") == "test"
    with pytest.raises(UsageError):
        check_split("val")


# --- sources with their own split -------------------------------------------------------------


def test_flickr_uses_its_split_column_and_keeps_originals_apart(hub_root, caplog):
    by_split = load_all_splits("flickr", hub_root)
    assert {s: ids(e) for s, e in by_split.items()} == {
        "train": ["1", "2"], "validation": ["3"], "test": ["4"]}
    first = by_split["train"][0]
    assert_normalised(first, "flickr", "train")
    assert first.captions == ["A person walks a dog on grass."]
    assert first.extra["original_captions"] == ["A man and his dog 1.", "A guy walks a dog 1."]
    assert "flickr/train: skipped 2 bad rows (1 no caption, 1 unreadable image)" in caplog.text


def test_coco_keeps_its_splits_and_every_caption(hub_root, caplog):
    by_split = load_all_splits("coco", hub_root)
    assert {s: ids(e) for s, e in by_split.items()} == {
        "train": ["10", "11"], "validation": ["20"], "test": ["30"]}
    assert by_split["train"][0].captions == ["Coco 10."]
    assert by_split["validation"][0].captions == ["Coco 20 first.", "Coco 20 second."]
    assert by_split["test"][0].extra == {"objects": ["dog", "ball"]}
    for split, examples in by_split.items():
        assert_normalised(examples[0], "coco", split)
    assert skipped(caplog) == 1


def test_docornot_captions_documents_and_leaves_photos_out(hub_root, caplog):
    by_split = load_all_splits("docornot", hub_root)
    assert [len(by_split[s]) for s in SPLITS] == [2, 1, 1]
    for split, examples in by_split.items():
        for example in examples:
            assert_normalised(example, "docornot", split)
            assert example.captions == ["Text document."]
    assert len(set(ids(by_split["train"]))) == 2
    assert skipped(caplog) == 1  # the corrupt document; photos are not bad rows


def test_textcaps_splits_val_in_two_and_never_reads_withheld_test(hub_root, caplog):
    by_split = load_all_splits("textcaps", hub_root)
    assert ids(by_split["train"]) == ["tc0001", "tc0002"]
    assert by_split["train"][0].captions == [f"A sign that says 1 ({k})." for k in range(5)]
    assert by_split["validation"] and by_split["test"]
    seen = assert_disjoint(by_split)
    assert seen == {"tc0001", "tc0002"} | {f"tc{n:04d}" for n in range(10, 30)}
    assert_normalised(by_split["test"][0], "textcaps", "test")
    assert skipped(caplog) == 0


# --- sources split by seeded id hash ----------------------------------------------------------


def test_pexels_seeded_split_is_deterministic_and_disjoint(hub_root, caplog):
    by_split = load_all_splits("pexels", hub_root)
    assert assert_disjoint(by_split) == {str(n) for n in range(PEXELS_SIZE - 2)}
    assert all(by_split[s] for s in SPLITS)
    for split, examples in by_split.items():
        assert all(seeded_split(e.id, 0) == split for e in examples)
    assert {s: ids(e) for s, e in by_split.items()} == {
        s: ids(e) for s, e in load_all_splits("pexels", hub_root).items()}
    reseeded = load_all_splits("pexels", hub_root, seed=1)
    assert assert_disjoint(reseeded) == assert_disjoint(by_split)
    assert {s: set(ids(e)) for s, e in reseeded.items()} != {
        s: set(ids(e)) for s, e in by_split.items()}
    assert_normalised(by_split["train"][0], "pexels", "train")
    assert skipped(caplog) == 2 * 3  # corrupt + empty caption, once per full pass


def test_pexels_reads_the_same_without_streaming(hub_root):
    streamed = load("pexels", "validation", hub_root)
    assert ids(load("pexels", "validation", hub_root, streaming=False)) == ids(streamed)


def test_validation_source_no_longer_leaks_into_train(hub_root, caplog):
    by_split = load_all_splits("validation", hub_root)
    assert assert_disjoint(by_split) == {str(n) for n in VALIDATION_IDS if n < 538}
    assert all(by_split[s] for s in SPLITS)
    examples = {e.id: e for split in by_split.values() for e in split}
    assert examples["501"].captions == ["Person with a phone 501.", "A person holding a phone 501."]
    assert examples["500"].captions == ["A person holding a phone 500."]
    assert examples["500"].extra["original_alt_text"] == "Woman holding a phone 500"
    assert_normalised(examples["501"], "validation", examples["501"].split)
    assert skipped(caplog) == 2


# --- sample ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "split", "cap"), [
    ("pexels", "train", 5), ("validation", "train", 3), ("textcaps", "validation", 1),
    ("flickr", "train", 1),
])
def test_sample_caps_a_source(hub_root, name, split, cap):
    assert len(load(name, split, hub_root, sample=cap)) == cap


def test_all_concatenates_every_hub_source_capping_each(hub_root):
    examples = list(load_examples("all", "train", path=str(hub_root), sample=1))
    assert [e.source for e in examples] == HUB_NAMES
    more = list(load_examples("all", "train", path=str(hub_root), sample=2))
    assert Counter(e.source for e in more) == dict.fromkeys(HUB_NAMES, 2)


# --- folder -------------------------------------------------------------------------------


def test_folder_jsonl_reads_every_caption_column(tmp_path, caplog):
    root = build_folder_jsonl(tmp_path / "images")
    by_split = load_all_splits("folder", root)
    assert assert_disjoint(by_split) == {"a.png", "b.png", "c.png", "d.png"}
    examples = {e.id: e for split in by_split.values() for e in split}
    assert {i: e.captions for i, e in examples.items()} == {
        "a.png": ["A red square."], "b.png": ["One.", "Two."], "c.png": ["Some text."],
        "d.png": ["Alt text."]}
    for example in examples.values():
        assert_normalised(example, "folder", seeded_split(example.id, 0))
    assert skipped(caplog) == 3  # corrupt e.png, missing.png, empty caption f.png
    assert len(load("folder", "train", root, sample=1)) == 1


def test_folder_csv_keeps_its_split_folders(tmp_path):
    root = build_folder_csv(tmp_path / "images")
    by_split = load_all_splits("folder", root)
    assert {s: ids(e) for s, e in by_split.items()} == {
        "train": ["train/x.png"], "validation": ["val/x.png"], "test": ["test/x.png"]}
    assert by_split["validation"][0].captions == ["val one.", "val two."]
    assert_normalised(by_split["test"][0], "folder", "test")
