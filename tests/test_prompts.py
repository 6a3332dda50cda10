"""`distilvit data prompts`: seeded, de-duplicated, bias-free prompts for rare objects, from
the quality report's CSV, working with a single rare object, and coming back as a `folder`."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from distilvit.cli import main
from distilvit.errors import UsageError
from distilvit.quality.config import PromptsConfig
from distilvit.quality.prompts import generate, read_objects
from distilvit.words.lexicons import find_all
from fixtures.quality_helpers import picture


def rare_csv(path: Path, objects: list[str]) -> Path:
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["object", "count"])
        writer.writerows([o, n] for n, o in enumerate(objects))
    return path


def run(tmp_path: Path, objects: list[str], *extra: str) -> list[dict]:
    out = tmp_path / "prompts.jsonl"
    code = main(["data", "prompts", "--rare-objects", str(rare_csv(tmp_path / "rare.csv", objects)),
                 "--output", str(out), *extra])
    assert code == 0
    return [json.loads(line) for line in out.read_text().splitlines()]


def test_a_single_rare_object_is_enough(tmp_path):
    rows = run(tmp_path, ["purple star"], "--prompts-per-object", "7")
    assert len(rows) == 7
    assert all(r["objects"] == ["purple star"] and "a purple star" in r["prompt"] for r in rows)
    assert len({r["prompt"] for r in rows}) == 7


def test_objects_and_combinations_seeded_and_deduplicated(tmp_path):
    objects = ["hair drier", "toaster", "parking meter", "elephant"]
    rows = run(tmp_path, objects, "--prompts-per-object", "5", "--combinations", "3")
    singles = [r for r in rows if len(r["objects"]) == 1]
    pairs = [r for r in rows if len(r["objects"]) == 2]
    assert len(singles) == 20 and len(pairs) == 3 * 2
    assert {o for r in singles for o in r["objects"]} == set(objects)
    assert len({" ".join(r["prompt"].lower().split()) for r in rows}) == len(rows)
    assert [r["id"] for r in rows] == [f"synthetic-{i:05d}" for i in range(len(rows))]
    assert any("an elephant" in r["prompt"] for r in rows)  # articles follow the object
    again = generate(objects, PromptsConfig(prompts_per_object=5, combinations=3))
    assert [r["prompt"] for r in again] == [r["prompt"] for r in rows]  # seed 0 both times
    other = generate(objects, PromptsConfig(prompts_per_object=5, combinations=3, seed=1))
    assert [r["prompt"] for r in other] != [r["prompt"] for r in rows]


def test_prompts_and_captions_are_bias_free_and_name_their_objects(tmp_path):
    rows = run(tmp_path, ["kite", "umbrella", "skis"], "--prompts-per-object", "20")
    for row in rows:
        assert find_all(row["prompt"]) == {} and find_all(row["caption"]) == {}
        for obj in row["objects"]:
            assert obj in row["caption"] and obj in row["prompt"]
        caption = row["caption"]
        assert caption[0].isupper() and caption.endswith(".") and caption.count(".") == 1
        assert "photo" not in caption and "focus" not in caption  # style words stay out


def test_more_prompts_than_the_templates_allow_stops_without_repeating():
    rows = generate(["dog"], PromptsConfig(prompts_per_object=100_000, combinations=0))
    prompts = [r["prompt"] for r in rows]
    assert 1000 < len(prompts) == len(set(prompts)) < 100_000


def test_generated_images_come_back_as_a_folder_dataset(tmp_path):
    from distilvit.data.registry import load_examples

    rows = run(tmp_path, ["toaster"], "--prompts-per-object", "6")
    folder = tmp_path / "generated"
    folder.mkdir()
    for n, row in enumerate(rows):  # stands in for a text-to-image model
        picture(n).save(folder / row["file_name"])
    (folder / "metadata.jsonl").write_text((tmp_path / "prompts.jsonl").read_text())
    examples = [e for split in ("train", "validation", "test")
                for e in load_examples("folder", split, path=str(folder))]
    assert sorted(e.captions[0] for e in examples) == sorted(r["caption"] for r in rows)


@pytest.mark.parametrize("content, message", [
    (None, "no such file"), ("name,count\nkite,1\n", "an 'object' column"),
    ("object,count\n", "no objects listed"),
])
def test_bad_inputs(tmp_path, content, message):
    path = tmp_path / "rare.csv"
    if content is not None:
        path.write_text(content)
    with pytest.raises(UsageError, match=message):
        read_objects(str(path))
