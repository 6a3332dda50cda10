"""`distilvit caption --output`: every input kind, resume, bad images, output formats."""

from __future__ import annotations

import json
import os

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from batch_fixtures import (
    add_bad_files,
    image_tree,
    one_torch_thread,  # noqa: F401 (autouse fixture)
    read_jsonl,
)
from distilvit.batch.inputs import walk_images
from distilvit.batch.outputs import read_parquet_records
from distilvit.caption_model import open_model
from distilvit.cli import main


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    root = tmp_path_factory.mktemp("photos")
    return root, image_tree(root, count=11)


@pytest.fixture(scope="module")
def one_by_one(trained_dir, photos):
    """Each image captioned alone through the Python API: what every batch run must match."""
    model = open_model(trained_dir)
    return {str(path): model.caption([str(path)])[0] for path in photos[1]}


def _captions(rows: list[dict]) -> dict[str, str]:
    return {row["image"]: row["caption"] for row in rows if row.get("caption") is not None}


def test_folder_to_jsonl_equals_one_by_one_captions(trained_dir, photos, one_by_one, tmp_path,
                                                    capsys):
    root, paths = photos
    out = tmp_path / "out.jsonl"
    code = main(["caption", str(trained_dir), str(root), "--output", str(out), "--no-draft",
                 "--batch-size", "4", "--workers", "3"])
    assert code == 0
    rows = read_jsonl(out)
    assert [row["image"] for row in rows] == list(walk_images(str(root)))  # input order
    assert len(rows) == len(paths) and all(set(r) == {"id", "image", "caption", "key"}
                                           for r in rows)
    assert _captions(rows) == one_by_one
    assert "captioned 11, failed 0, skipped 0" in capsys.readouterr().out


def test_rerun_skips_done_inputs_and_redoes_changed_ones(trained_dir, photos, tmp_path, capsys):
    root, paths = photos
    out = tmp_path / "out.jsonl"
    args = ["caption", str(trained_dir), str(root), "--output", str(out)]
    assert main(args) == 0
    assert main(args) == 0
    assert "captioned 0, failed 0, skipped 11" in capsys.readouterr().out
    os.utime(paths[0], ns=(10**18, 10**18))  # "edited": captioned again, once more
    assert main(args) == 0
    assert "captioned 1, failed 0, skipped 10" in capsys.readouterr().out
    assert len(read_jsonl(out)) == 12


def test_bad_images_become_error_records_and_the_run_goes_on(trained_dir, photos, one_by_one,
                                                             tmp_path, capsys):
    root, _ = photos
    bad_root = tmp_path / "mixed"
    paths = image_tree(bad_root, count=5, seed=3)
    bad = add_bad_files(bad_root)
    out = tmp_path / "out.jsonl"
    code = main(["caption", str(trained_dir), str(bad_root), str(tmp_path / "missing.png"),
                 "--output", str(out), "--batch-size", "2"])
    assert code == 1
    rows = read_jsonl(out)
    errors = {row["image"]: row["error"] for row in rows if "error" in row}
    assert set(errors) == {str(p) for p in bad} | {str(tmp_path / "missing.png")}
    assert all(name in message for name, message in errors.items())
    assert len(_captions(rows)) == len(paths)
    assert "captioned 5, failed 4" in capsys.readouterr().out


@pytest.mark.parametrize("kind", ["txt", "csv", "jsonl", "parquet"])
def test_manifest_inputs_keep_their_ids(trained_dir, photos, one_by_one, tmp_path, kind):
    _, paths = photos
    rows = [{"path": str(p), "uid": f"photo-{i}"} for i, p in enumerate(paths[:5])]
    manifest = tmp_path / f"list.{kind}"
    if kind == "txt":
        manifest.write_text("\n".join(r["path"] for r in rows))
    elif kind == "csv":
        manifest.write_text("path,uid\n" + "".join(f"{r['path']},{r['uid']}\n" for r in rows))
    elif kind == "jsonl":
        manifest.write_text("".join(json.dumps(r) + "\n" for r in rows))
    else:
        pq.write_table(pa.Table.from_pylist(rows), manifest)
    out = tmp_path / "out.parquet"
    flags = [] if kind == "txt" else ["--id-column", "uid"]
    assert main(["caption", str(trained_dir), "--manifest", str(manifest), "--output", str(out),
                 "--no-draft", *flags]) == 0
    records = read_parquet_records(out)
    assert len(records) == 5
    assert {r["image"]: r["caption"] for r in records} == {
        r["path"]: one_by_one[r["path"]] for r in rows}
    expected_ids = {r["path"] if kind == "txt" else r["uid"] for r in rows}
    assert {r["id"] for r in records} == expected_ids


def test_dataset_input_keeps_row_ids_and_resumes(trained_dir, tmp_path, capsys):
    from distilvit.data.registry import load_examples

    out = tmp_path / "shapes.jsonl"
    args = ["caption", str(trained_dir), "--dataset", "shapes", "--split", "test", "--sample",
            "6", "--output", str(out)]
    assert main(args) == 0
    rows = read_jsonl(out)
    examples = list(load_examples("shapes", "test", sample=6))
    assert [row["id"] for row in rows] == [e.id for e in examples]
    model = open_model(trained_dir)
    assert [row["caption"] for row in rows] == [model.caption([e.image])[0] for e in examples]
    assert main(args) == 0
    assert "skipped 6" in capsys.readouterr().out


def test_imagefolder_output_is_a_captioned_dataset(trained_dir, tmp_path, capsys):
    from distilvit.data.registry import load_examples

    root = tmp_path / "library"
    paths = image_tree(root, count=6, seed=7)
    add_bad_files(root)
    main(["caption", str(trained_dir), str(root), "--output", str(root),
          "--output-format", "imagefolder"])
    rows = read_jsonl(root / "metadata.jsonl")
    assert len(rows) == 9 and sum(row["caption"] is None for row in rows) == 3
    captions = {row["file_name"]: row["caption"] for row in rows if row["caption"]}
    assert set(captions) == {p.relative_to(root).as_posix() for p in paths}
    examples = [e for split in ("train", "validation", "test")
                for e in load_examples("folder", split, path=str(root))]
    assert {e.id: e.captions for e in examples} == {k: [v] for k, v in captions.items()}


def test_terminal_output_is_unchanged(trained_dir, photos, one_by_one, capsys):
    _, paths = photos
    assert main(["caption", str(trained_dir), str(paths[1])]) == 0
    assert capsys.readouterr().out == one_by_one[str(paths[1])] + "\n"
    assert main(["caption", str(trained_dir), str(paths[1]), str(paths[2]), "--json"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert lines == [{"image": str(p), "caption": one_by_one[str(p)]} for p in paths[1:3]]


def test_usage_errors(trained_dir, tmp_path, capsys):
    assert main(["caption", str(trained_dir)]) == 2
    assert "nothing to caption" in capsys.readouterr().err
    assert main(["caption", str(trained_dir), "x.png", "--engine", "ray", "--output",
                 str(tmp_path / "o.jsonl")]) == 2
    assert main(["caption", str(trained_dir), "x.png", "--workers", "0"]) == 2
