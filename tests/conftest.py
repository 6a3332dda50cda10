"""Session-wide tiny bases: a tokenizer trained here, a random SigLIP tower, random LMs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from distilvit import bases
from distilvit.config import (
    CaptionerConfig,
    DecoderConfig,
    EncoderConfig,
    LoraConfig,
    ProjectorConfig,
)

COLOURS = ["red", "green", "blue", "yellow", "purple", "orange"]
SHAPES = ["circle", "square", "triangle", "star"]
CORPUS = [f"a {size} {colour} {shape} on a {bg} background"
          for size in ("small", "large") for colour in COLOURS for shape in SHAPES
          for bg in ("white", "grey")] + ["two objects", "three objects", "a photo of"]


@pytest.fixture(scope="session")
def tiny_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("tiny-bases")


@pytest.fixture(scope="session")
def tokenizer():
    return bases.train_tokenizer(CORPUS * 4, vocab_size=300)


@pytest.fixture(scope="session")
def vision_dir(tiny_dir) -> Path:
    return bases.save_vision_tower(tiny_dir / "vision", hidden_size=32, intermediate_size=64,
                                   num_hidden_layers=2, num_attention_heads=4, image_size=32,
                                   patch_size=8)


@pytest.fixture(scope="session")
def lm_dirs(tiny_dir, tokenizer) -> dict[str, Path]:
    return {family: bases.save_language_model(
        tiny_dir / f"lm-{family}", bases.lm_config(family, tokenizer, hidden=48, heads=4),
        tokenizer, seed=1) for family in bases.LM_FAMILIES}


@pytest.fixture(scope="session")
def make_config(vision_dir, lm_dirs):
    def make(family: str = "llama", **projector) -> CaptionerConfig:
        return CaptionerConfig(
            encoder=EncoderConfig(name_or_path=str(vision_dir)),
            decoder=DecoderConfig(name_or_path=str(lm_dirs[family])),
            projector=ProjectorConfig(**projector),
            lora=LoraConfig(r=4, alpha=8, dropout=0.0),
            max_length=12,
        )
    return make


@pytest.fixture()
def images(tmp_path) -> list[Path]:
    """Three small, different images on disk."""
    rng = np.random.default_rng(0)
    paths = []
    for i, size in enumerate([(40, 30), (32, 32), (64, 48)]):
        array = rng.integers(0, 256, size=(size[1], size[0], 3), dtype=np.uint8)
        path = tmp_path / f"img{i}.png"
        Image.fromarray(array).save(path)
        paths.append(path)
    return paths


def perturb_trainable(model, seed: int = 0, scale: float = 0.3) -> None:
    """Make LoRA matter (peft initialises B to zero) as if the model had trained a little."""
    import torch

    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for param in model.trainable_parameters().values():
            param.add_(torch.randn(param.shape, generator=generator) * scale)


@pytest.fixture(scope="session")
def trained_dir(tmp_path_factory, make_config) -> Path:
    """A saved llama-family captioner with non-trivial projector and LoRA weights."""
    from distilvit.model import Captioner

    model = Captioner.build(make_config("llama"))
    perturb_trainable(model)
    out = tmp_path_factory.mktemp("trained")
    model.save_pretrained(out)
    return out


@pytest.fixture(scope="session")
def shapes_model_dir(tmp_path_factory) -> Path:
    """The shipped tiny preset trained ~300 steps on `shapes` (~20 s): decisive logits."""
    from distilvit.cli import main

    out = tmp_path_factory.mktemp("shapes-model")
    code = main(["train", "--preset", "tiny", "--dataset", "shapes", "--sample", "2400",
                 "--num-train-epochs", "4", "--precision", "fp32", "--projection-lr", "0.005",
                 "--lora-lr", "0.003", "--output-dir", str(out), "--cache-dir",
                 str(tmp_path_factory.mktemp("shapes-cache")), "--no-final-eval",
                 "--checkpoint-every", "0", "--seed", "0"])
    assert code == 0, "training the tiny shapes model failed"
    return out


@pytest.fixture(scope="session")
def shapes_export_dir(shapes_model_dir, tmp_path_factory) -> Path:
    """`shapes_model_dir` exported to ONNX with every variant (fp32, INT8, fp16)."""
    from export_fixtures import export_once

    return export_once(shapes_model_dir, tmp_path_factory)


@pytest.fixture(scope="session")
def shapes_ved_dir(shapes_model_dir, tmp_path_factory) -> Path:
    """`shapes_model_dir` exported in the vision-encoder-decoder layout, every variant."""
    from export_fixtures import export_once

    return export_once(shapes_model_dir, tmp_path_factory, "vision-encoder-decoder")


from real_lm_fixtures import (  # noqa: E402,F401  (session fixtures on SmolLM2 weights)
    real_lm_export_dir,
    real_lm_model_dir,
    smollm2_dir,
    smollm2_gguf,
)
