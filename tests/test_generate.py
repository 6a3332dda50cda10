import dataclasses

import pytest
import torch

from conftest import perturb_trainable
from distilvit.config import GenerationConfig
from distilvit.generate import generate_ids, prompt_embeddings
from distilvit.model import Captioner
from distilvit.model.lora import causal_lm

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


def argmax_loop(model, pixels: torch.Tensor, steps: int) -> torch.Tensor:
    """Greedy decoding by hand: a full forward pass per step (no KV cache, no HF generate),
    rows that said EOS padded with the pad id, stopping once every row has."""
    eos, pad = model.format.eos_id, model.format.pad_id
    lm = causal_lm(model.lm)
    embeds = prompt_embeddings(model, model.image_prefix(pixels))
    done = torch.zeros(len(pixels), dtype=torch.bool)
    tokens = []
    with torch.inference_mode():
        for _ in range(steps):
            step = lm(inputs_embeds=embeds).logits[:, -1].argmax(-1)
            step = torch.where(done, torch.full_like(step, pad), step)
            tokens.append(step)
            done |= step == eos
            if done.all():
                break
            embeds = torch.cat([embeds, model.embed_tokens(step[:, None])], dim=1)
    return torch.stack(tokens, dim=1)


def test_greedy_equals_a_hand_written_argmax_loop(model, pixels):
    expected = argmax_loop(model, pixels, GREEDY.max_new_tokens)
    assert torch.equal(generate_ids(model, pixels, GREEDY), expected)


def test_beam_search_differs_from_greedy_somewhere(model, pixels):
    """Beams are a different search, not greedy again: on random weights they disagree."""
    beams = generate_ids(model, pixels, dataclasses.replace(GREEDY, num_beams=4))
    greedy = generate_ids(model, pixels, GREEDY)
    assert beams.shape != greedy.shape or not torch.equal(beams, greedy)


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
