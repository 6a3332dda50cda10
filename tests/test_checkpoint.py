import json

import pytest
import torch
from safetensors.torch import load_file

from conftest import perturb_trainable
from distilvit.errors import ModelDirError
from distilvit.generate import generate_ids
from distilvit.model import Captioner, merge_checkpoint


def test_checkpoint_holds_only_trainable_weights(trained_dir):
    weights = load_file(str(trained_dir / "model.safetensors"))
    assert weights and all(k.startswith("projector.") or "lora_" in k for k in weights)
    meta = json.loads((trained_dir / "config.json").read_text())
    assert meta["distilvit_format"] == 1
    assert meta["captioner"]["lora"]["r"] == 4
    assert (trained_dir / "tokenizer.json").is_file()
    assert (trained_dir / "preprocessor_config.json").is_file()


def test_save_load_gives_identical_captions(make_config, tmp_path, images):
    model = Captioner.build(make_config("qwen2")).eval()
    perturb_trainable(model, seed=5)
    model.save_pretrained(tmp_path / "ck")
    again = Captioner.from_pretrained(tmp_path / "ck")
    pixels = model.preprocess(images)
    assert torch.equal(generate_ids(model, pixels, model.config.generation),
                       generate_ids(again, pixels, again.config.generation))
    assert model.caption(images) == again.caption(images)


def test_merge_is_self_contained_and_equivalent(trained_dir, tmp_path, images):
    model = Captioner.from_pretrained(trained_dir)
    merged_dir = merge_checkpoint(trained_dir, tmp_path / "merged")
    merged = Captioner.from_pretrained(merged_dir)
    assert merged.config.encoder.name_or_path == "encoder"
    assert merged.config.lora.r == 0 and merged.num_parameters()[0] > 0
    pixels = model.preprocess(images)
    text = model.format.encode(model.tokenizer, ["a red circle"] * len(images))
    with torch.no_grad():
        a = model(text.input_ids, text.attention_mask, text.labels, pixel_values=pixels).logits
        b = merged(text.input_ids, text.attention_mask, text.labels, pixel_values=pixels).logits
    torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-4)
    gen = model.config.generation
    assert torch.equal(generate_ids(model, pixels, gen), generate_ids(merged, pixels, gen))


def test_unfrozen_vision_layers_round_trip(make_config, tmp_path, images):
    config = make_config("llama")
    config.encoder.unfreeze_last_n_layers = 1
    model = Captioner.build(config).eval()
    perturb_trainable(model, seed=9, scale=0.05)
    model.save_pretrained(tmp_path / "ck")
    weights = load_file(str(tmp_path / "ck" / "model.safetensors"))
    assert any(k.startswith("encoder.") for k in weights)
    again = Captioner.from_pretrained(tmp_path / "ck")
    assert model.caption(images) == again.caption(images)
    merged = Captioner.from_pretrained(merge_checkpoint(tmp_path / "ck", tmp_path / "m"))
    assert merged.caption(images) == model.caption(images)


@pytest.mark.parametrize("setup, message", [
    (lambda d: None, "no such model directory"),
    (lambda d: d.mkdir(), "no config.json"),
    (lambda d: (d.mkdir(), (d / "config.json").write_text('{"model_type": "llama"}')),
     "not a distilvit config"),
    (lambda d: (d.mkdir(), (d / "config.json").write_text("{oops")), "unreadable JSON"),
])
def test_not_a_model_dir(tmp_path, setup, message):
    path = tmp_path / "model"
    setup(path)
    with pytest.raises(ModelDirError, match=message):
        Captioner.from_pretrained(path)


def test_weights_that_do_not_match(trained_dir, tmp_path):
    import shutil

    broken = tmp_path / "broken"
    shutil.copytree(trained_dir, broken)
    weights = load_file(str(broken / "model.safetensors"))
    weights.pop(next(iter(weights)))
    from safetensors.torch import save_file
    save_file(weights, str(broken / "model.safetensors"))
    with pytest.raises(ModelDirError, match="do not match"):
        Captioner.from_pretrained(broken)


def test_feature_statistics_travel_with_the_checkpoint(make_config, tmp_path, images):
    config = make_config("llama", standardize=True)
    model = Captioner.build(config).eval()
    model.projector.standardizer.fit(model.encoder(torch.randn(16, 3, 32, 32)))
    perturb_trainable(model, seed=2)
    model.save_pretrained(tmp_path / "ck")
    weights = load_file(str(tmp_path / "ck" / "model.safetensors"))
    assert weights["projector.standardizer.mean"].shape == (16, 32)
    again = Captioner.from_pretrained(tmp_path / "ck")
    assert torch.equal(again.projector.standardizer.std, model.projector.standardizer.std)
    assert again.caption(images) == model.caption(images)
    merged = Captioner.from_pretrained(merge_checkpoint(tmp_path / "ck", tmp_path / "m"))
    assert merged.caption(images) == model.caption(images)
