import dataclasses

import pytest
import torch

from conftest import perturb_trainable
from distilvit.config import GenerationConfig
from distilvit.generate import generate_ids
from distilvit.model import Captioner

GREEDY = GenerationConfig(max_new_tokens=12)


@pytest.fixture(scope="module")
def model(make_config):
    model = Captioner.build(make_config("llama")).eval()
    perturb_trainable(model, seed=3)
    return model


@pytest.fixture(scope="module")
def pixels():
    return torch.randn(3, 3, 32, 32, generator=torch.Generator().manual_seed(1))


def test_cached_equals_uncached(model, pixels):
    cached = generate_ids(model, pixels, GREEDY, use_cache=True)
    uncached = generate_ids(model, pixels, GREEDY, use_cache=False)
    assert torch.equal(cached, uncached)


def test_batch_equals_one_by_one(model, pixels):
    batched = generate_ids(model, pixels, GREEDY)
    for i in range(len(pixels)):
        single = generate_ids(model, pixels[i:i + 1], GREEDY)
        width = single.shape[1]
        assert batched[i, :width].tolist() == single[0].tolist()


def test_beam_width_one_is_greedy(model, pixels):
    beam = dataclasses.replace(GREEDY, num_beams=1)
    assert torch.equal(generate_ids(model, pixels, beam), generate_ids(model, pixels, GREEDY))


def test_beam_search_returns_one_row_per_image(model, pixels):
    beams = generate_ids(model, pixels, dataclasses.replace(GREEDY, num_beams=3))
    assert beams.shape[0] == 3


def test_sampling_is_seeded(model, pixels):
    sample = dataclasses.replace(GREEDY, do_sample=True, top_k=20, top_p=0.9, temperature=1.5)
    a = generate_ids(model, pixels, sample)
    b = generate_ids(model, pixels, sample)
    c = generate_ids(model, pixels, dataclasses.replace(sample, seed=7))
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


def test_bad_words_never_appear(model, pixels):
    ids = generate_ids(model, pixels, GREEDY)
    first = ids[0, 0].item()
    word = model.tokenizer.decode([first])
    banned = generate_ids(model, pixels, dataclasses.replace(GREEDY, bad_words=(word,)))
    assert first not in banned[0].tolist()


def test_no_repeat_ngram(model, pixels):
    ids = generate_ids(model, pixels, dataclasses.replace(GREEDY, no_repeat_ngram_size=1,
                                                          max_new_tokens=20))
    for row in ids.tolist():
        eos = model.format.eos_id
        tokens = row[: row.index(eos)] if eos in row else row
        assert len(tokens) == len(set(tokens))


def test_caption_accepts_paths_pil_and_bytes(model, images):
    from PIL import Image

    by_path = model.caption([str(p) for p in images])
    by_pil = model.caption([Image.open(p) for p in images])
    by_bytes = model.caption([p.read_bytes() for p in images])
    assert by_path == by_pil == by_bytes
    assert model.caption(images[0]) == by_path[:1]
