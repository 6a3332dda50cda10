"""One interface for a captioner: `open_model` gives a `CaptionModel` whatever runs it, reads
the folder's config.json once, and `distilvit eval` scores an export as it scores a checkpoint."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from distilvit import folders
from distilvit.caption_model import CaptionModel, open_model
from distilvit.cli import main
from distilvit.config import BackendConfig
from distilvit.eval.metrics import one_meteor
from export_fixtures import export_once


@pytest.fixture(scope="module")
def exported(trained_dir, tmp_path_factory):
    return export_once(trained_dir, tmp_path_factory)


def count_config_reads(monkeypatch, folder: Path) -> dict[str, int]:
    """Count parses (the one parser) and raw reads of FOLDER/config.json."""
    counts = {"parsed": 0, "read": 0}
    parse, read_text = folders.parse_config_file, Path.read_text
    target = (Path(folder) / folders.CONFIG_FILE).resolve()

    def counting_parse(path: Path):
        counts["parsed"] += Path(path).resolve() == target
        return parse(path)

    def counting_read(self: Path, *args, **kwargs):
        counts["read"] += self.resolve() == target
        return read_text(self, *args, **kwargs)

    monkeypatch.setattr(folders, "parse_config_file", counting_parse)
    monkeypatch.setattr(Path, "read_text", counting_read)
    return counts


@pytest.mark.parametrize("variant", ["fp32", "int8"])
def test_an_export_load_reads_config_json_once(exported, monkeypatch, variant):
    counts = count_config_reads(monkeypatch, exported)
    model = open_model(exported, BackendConfig(onnx_variant=variant))
    assert model.describe()["variant"] == variant
    assert counts == {"parsed": 1, "read": 1}


def test_a_checkpoint_load_reads_config_json_once(trained_dir, monkeypatch):
    counts = count_config_reads(monkeypatch, trained_dir)
    assert open_model(trained_dir).runtime == "torch"
    assert counts == {"parsed": 1, "read": 1}


def test_threads_bound_the_onnx_sessions(exported):
    """What a Ray actor asks for: its sessions compute with the CPUs it was given."""
    model = open_model(exported, threads=1)
    assert {s.get_session_options().intra_op_num_threads for s in model.sessions.values()} == {1}
    default = open_model(exported)
    assert {s.get_session_options().intra_op_num_threads
            for s in default.sessions.values()} == {0}  # ONNX Runtime's own choice


def test_both_runtimes_are_caption_models_that_agree(trained_dir, exported, images):
    torch_model, onnx_model = open_model(trained_dir), open_model(exported)
    for model in (torch_model, onnx_model):
        assert isinstance(model, CaptionModel)
        described = model.describe()
        assert described["runtime"] == model.runtime
        assert set(described["base_models"]) == {"vision", "language"}
    assert (torch_model.runtime, onnx_model.runtime) == ("torch", "onnx")
    assert onnx_model.generation == torch_model.generation
    assert onnx_model.caption(images) == torch_model.caption(images)


def test_eval_of_the_fp32_export_equals_eval_of_the_checkpoint(trained_dir, exported,
                                                              tmp_path, capsys):
    """Same metrics and the same printed captions, whichever runtime ran the model. Both
    commands score in one METEOR JVM (the same scores as two: tests/test_metrics.py)."""
    reports = {}
    with one_meteor():
        for name, folder in (("torch", trained_dir), ("onnx", exported)):
            out = tmp_path / f"{name}.json"
            assert main(["eval", str(folder), "--sample", "6", "--batch-size", "4",
                         "--json", str(out)]) == 0
            printed = capsys.readouterr().out.splitlines()[1:]  # the title names the folder
            reports[name] = (json.loads(out.read_text()), printed)
    assert reports["onnx"] == reports["torch"]
    metrics, printed = reports["onnx"]
    assert metrics["n_images"] == 6 and sum("(reference: " in line for line in printed) == 5


def test_eval_cli_scores_a_quantized_variant(exported, tmp_path, capsys):
    out = tmp_path / "int8.json"
    assert main(["eval", str(exported), "--onnx-variant", "int8", "--sample", "4",
                 "--json", str(out)]) == 0
    assert json.loads(out.read_text())["n_images"] == 4
    assert f"{exported} on test" in capsys.readouterr().out


def test_eval_blind_on_an_export_is_one_line(exported, capsys):
    assert main(["eval", str(exported), "--blind", "--sample", "4"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "--backend torch" in err and err.count("\n") == 1
