import json

import torch

from distilvit.config import ShapesConfig, preset
from distilvit.model import Captioner
from distilvit.model.loading import builtin_dir
from distilvit.tinybases import TinyBasesConfig, build, cell_weights


def test_shipped_bases_build_the_tiny_preset():
    model = Captioner.build(preset("tiny"))
    tower, shipped = model.encoder.tower.config, TinyBasesConfig()
    assert (tower.image_size, tower.patch_size) == (shipped.image_size, shipped.patch_size)
    assert tower.image_size == ShapesConfig().image_size  # scenes drawn at the tower's size
    assert model.tokenizer.eos_token_id is not None
    trainable, total = model.num_parameters()
    assert 0 < trainable < total
    info = json.loads((builtin_dir("tiny-bases.json")).read_text())
    assert info["config"]["seed"] == 0


def test_cell_weights_cover_each_cell_once():
    weights = cell_weights(64, 8)
    assert weights.shape == (9, 64)
    torch.testing.assert_close(weights.sum(1), torch.ones(9))
    assert weights[0, 0] == weights[0].max() and weights[0, 63] == 0


def test_builder_writes_loadable_bases(tmp_path):
    cfg = TinyBasesConfig(images=48, vision_steps=2, lm_steps=2, vision_batch=8, lm_batch=8,
                          vision_hidden=32, vision_layers=1, text_hidden=32, text_layers=1,
                          lm_hidden=32, lm_layers=1, vocab_size=300)
    build(cfg, tmp_path)
    config = preset("tiny")
    config.encoder.name_or_path = str(tmp_path / "tiny-vision")
    config.decoder.name_or_path = str(tmp_path / "tiny-lm")
    model = Captioner.build(config)
    assert model.encoder.hidden_size == 32
    assert json.loads((tmp_path / "tiny-bases.json").read_text())["config"]["images"] == 48
