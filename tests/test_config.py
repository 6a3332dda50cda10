import pytest

from distilvit.config import PRESETS, CaptionerConfig, preset


def test_presets_are_fresh_and_distinct():
    base = preset("base")
    base.lora.r = 99
    assert preset("base").lora.r == 16
    assert preset("seed-compatible").projector.type == "linear"
    assert preset("seed-compatible").projector.pixel_shuffle_factor == 1
    assert preset("base").projector.pixel_shuffle_factor == 2
    assert preset("tiny").encoder.name_or_path.startswith("builtin:")
    assert set(PRESETS) >= {"base", "modern", "large", "tiny", "seed-compatible"}


def test_round_trip_through_dict():
    config = preset("large")
    config.generation.bad_words = ("man", "woman")
    again = CaptionerConfig.from_dict(config.to_dict())
    assert again == config


def test_unknown_keys_are_rejected():
    data = preset("base").to_dict()
    data["projector"]["bogus"] = 1
    with pytest.raises(ValueError, match="bogus"):
        CaptionerConfig.from_dict(data)


def test_unknown_preset():
    with pytest.raises(ValueError, match="unknown preset"):
        preset("huge")
