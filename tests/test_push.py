import json
import shutil

import huggingface_hub
import pytest

from distilvit.cli import main
from distilvit.export.card import model_card
from distilvit.export.hub import read_folder
from export_fixtures import export_once


@pytest.fixture(scope="module")
def exported(trained_dir, tmp_path_factory):
    return export_once(trained_dir, tmp_path_factory)


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("a test tried to reach the Hub")

    monkeypatch.setattr(huggingface_hub, "HfApi", refuse)


def test_dry_run_lists_every_file_and_the_generated_card(exported, capsys):
    code = main(["push", str(exported), "--repo", "me/alt-text", "--private", "--dry-run"])
    out = capsys.readouterr().out
    assert code == 0
    assert "private repository me/alt-text" in out
    for name in ("config.json", "tokenizer.json", "onnx/decoder_model_merged_quantized.onnx",
                 "onnx/vision_encoder.onnx", "verification.json"):
        assert f"  {name}  " in out
    assert "README.md" in out and "(generated model card)" in out


def test_checkpoint_dry_run_skips_resumable_state(trained_dir, tmp_path, capsys):
    folder = shutil.copytree(trained_dir, tmp_path / "run")
    (folder / "checkpoint").mkdir()
    (folder / "checkpoint" / "optimizer.safetensors").write_bytes(b"x" * 100)
    assert main(["push", str(folder), "--repo", "me/run", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "model.safetensors" in out and "checkpoint/" not in out


def test_model_card_sections(exported, tmp_path):
    folder = shutil.copytree(exported, tmp_path / "export")
    (folder / "metrics.json").write_text(json.dumps({"cider": 0.81, "gendered_rate": 0.12}))
    config = json.loads((folder / "config.json").read_text())
    config["distilvit_export"]["captioner"]["encoder"]["name_or_path"] = "google/siglip-x"
    (folder / "config.json").write_text(json.dumps(config))
    card = model_card(read_folder(folder), training_data="COCO 2017 train", title="alt-text")
    assert card.startswith("---\nlicense: apache-2.0\n")
    assert "base_model:\n- google/siglip-x\n---" in card  # local paths are not base models
    for heading in ("# alt-text", "## Architecture", "## Base models", "## Training data",
                    "## Evaluation", "## Intended use", "## Known biases and limitations"):
        assert heading in card
    assert "COCO 2017 train" in card and "| cider | 0.8100 |" in card
    assert "| fp32 | " in card and "alt text" in card


def test_push_uploads_in_one_commit(exported, monkeypatch):
    calls = {}

    class FakeApi:
        def create_repo(self, repo, private, exist_ok):
            calls["repo"] = (repo, private)
            return f"https://huggingface.co/{repo}"

        def create_commit(self, repo, operations, commit_message):
            calls["files"] = sorted(op.path_in_repo for op in operations)

    monkeypatch.setattr(huggingface_hub, "HfApi", FakeApi)
    assert main(["push", str(exported), "--repo", "me/alt-text"]) == 0
    assert calls["repo"] == ("me/alt-text", False)
    assert "README.md" in calls["files"] and "onnx/embed_tokens_quantized.onnx" in calls["files"]


@pytest.mark.parametrize("argv, message", [
    (["--repo", "no-slash"], "expected ORG/NAME"),
    (["--repo", "me/x"], "no config.json"),
])
def test_bad_push_arguments_are_usage_errors(tmp_path, capsys, argv, message):
    assert main(["push", str(tmp_path), *argv, "--dry-run"]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
