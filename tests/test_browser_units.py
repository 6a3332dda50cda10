"""The web module's DOM-free parts, in node, against the Python code they mirror.

Pillow-exact resizing (every filter, up/down/one-axis/odd sizes), RGBA compositing, the full
image preprocessing for several processor configs, tokenizer decoding for every decoder type
our exports can carry, and greedy/beam decoding with the logits rules. One node process runs
all cases (tests/browser/units.mjs); each test checks its part.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from tokenizers import AddedToken, Tokenizer, decoders, models

from browser_harness import SCRIPTS, browser_missing, run_script
from distilvit.bases import train_tokenizer
from distilvit.images import to_rgb
from distilvit.ort.decoding import Cache, Rules, beam_search, greedy
from distilvit.ort.preprocess import ImagePreprocessor
from distilvit.tokens import until_eos

pytestmark = pytest.mark.skipif(browser_missing() is not None, reason=browser_missing() or "")

SIZES = [((256, 192), (64, 64)), ((30, 17), (64, 64)), ((64, 100), (64, 64)),
         ((100, 64), (64, 64)), ((500, 40), (64, 64)), ((97, 61), (50, 33)), ((1, 1), (5, 3)),
         ((3, 2), (1, 1))]
FILTERS = [Image.Resampling.NEAREST, Image.Resampling.LANCZOS, Image.Resampling.BILINEAR,
           Image.Resampling.BICUBIC, Image.Resampling.BOX, Image.Resampling.HAMMING]
TRIG_FILTERS = {Image.Resampling.LANCZOS, Image.Resampling.HAMMING}
CLIP_MEAN, CLIP_STD = [0.48145466, 0.4578275, 0.40821073], [0.26862954, 0.26130258, 0.27577711]
PROCESSORS = {
    "siglip": {"do_resize": True, "size": {"height": 64, "width": 64}, "resample": 3,
               "do_rescale": True, "rescale_factor": 1 / 255, "do_normalize": True,
               "image_mean": [0.5] * 3, "image_std": [0.5] * 3},
    "clip": {"size": {"shortest_edge": 40}, "do_center_crop": True,
             "crop_size": {"height": 32, "width": 32}, "resample": 3, "rescale_factor": 1 / 255,
             "image_mean": CLIP_MEAN, "image_std": CLIP_STD},
    "vit-bilinear-no-norm": {"size": {"height": 24, "width": 40}, "resample": 2,
                             "rescale_factor": 1 / 255, "do_normalize": False},
    "no-rescale": {"size": {"height": 16, "width": 16}, "resample": 1, "do_rescale": False,
                   "image_mean": [127.5] * 3, "image_std": [64.0] * 3},
}


def _hard_edged(rng: np.random.Generator, w: int, h: int) -> np.ndarray:
    """Flat blocks of saturated colours: the worst case for a resize filter's ringing."""
    blocks = rng.choice([0, 255], size=(max(1, h // 7) + 1, max(1, w // 5) + 1, 3))
    return np.repeat(np.repeat(blocks, 7, axis=0), 5, axis=1)[:h, :w].astype(np.uint8)


def _write(folder: Path, name: str, array: np.ndarray) -> str:
    path = folder / name
    path.write_bytes(np.ascontiguousarray(array).tobytes())
    return str(path)


def resize_cases(folder: Path, rng: np.random.Generator) -> list[dict]:
    cases = []
    for i, ((w, h), (ow, oh)) in enumerate(SIZES):
        for kind, pixels in (("noise", rng.integers(0, 256, (h, w, 3), dtype=np.uint8)),
                             ("edges", _hard_edged(rng, w, h))):
            for f in FILTERS:
                expected = np.asarray(Image.fromarray(pixels).resize((ow, oh), resample=f))
                name = f"resize-{i}-{kind}-{int(f)}"
                cases.append({"name": name, "w": w, "h": h, "outW": ow, "outH": oh,
                              "resample": int(f), "input": _write(folder, name + ".in", pixels),
                              "expected": _write(folder, name + ".out", expected)})
    return cases


def composite_cases(folder: Path, rng: np.random.Generator) -> list[dict]:
    rgba = rng.integers(0, 256, (64, 48, 4), dtype=np.uint8)
    rgba[..., 3] = (np.arange(64 * 48) % 256).reshape(64, 48)  # every alpha value
    expected = np.asarray(to_rgb(Image.fromarray(rgba, "RGBA")))
    return [{"w": 48, "h": 64, "input": _write(folder, "composite.in", rgba),
             "expected": _write(folder, "composite.out", expected)}]


def preprocess_cases(folder: Path, rng: np.random.Generator) -> list[dict]:
    cases = []
    for name, config in PROCESSORS.items():
        for w, h in ((90, 70), (33, 51)):
            rgba = rng.integers(0, 256, (h, w, 4), dtype=np.uint8)
            rgba[::3, ::2, 3] = 255
            expected = ImagePreprocessor(config).one(Image.fromarray(rgba, "RGBA"))
            stem = f"pre-{name}-{w}x{h}"
            cases.append({"name": stem, "config": config, "w": w, "h": h,
                          "input": _write(folder, stem + ".in", rgba),
                          "expected": _write(folder, stem + ".out", expected.astype(np.float32)),
                          "dims": [1, *expected.shape]})
    return cases


def tokenizers_under_test(folder: Path) -> dict[str, Tokenizer]:
    """Every decoder pipeline an export can carry, with special and plain added tokens."""
    byte_level = train_tokenizer(["a small red circle on a grey background, café ☕ naïve"] * 4,
                                 vocab_size=300).backend_tokenizer
    pieces = ["<unk>", "▁a", "▁red", "▁circ", "le", "▁", "é"]
    byte_pieces = [f"<0x{b:02X}>" for b in range(256)]
    llama = Tokenizer(models.BPE({p: i for i, p in enumerate(pieces + byte_pieces)}, [],
                                 unk_token="<unk>", byte_fallback=True))
    llama.decoder = decoders.Sequence([decoders.Replace("▁", " "), decoders.ByteFallback(),
                                       decoders.Fuse(), decoders.Strip(" ", 1, 0)])
    unigram = Tokenizer(models.Unigram([(p, -1.0) for p in pieces], 0, byte_fallback=False))
    unigram.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="first")
    wordpiece = Tokenizer(models.WordPiece({w: i for i, w in enumerate(
        ["[UNK]", "hello", "##world", ",", "do", "n't", "'s", "?", "a"])}, unk_token="[UNK]"))
    wordpiece.decoder = decoders.WordPiece()
    bpe_suffix = Tokenizer(models.WordLevel({w: i for i, w in enumerate(
        ["<unk>", "a</w>", "re", "d</w>", "circle</w>"])}, unk_token="<unk>"))
    bpe_suffix.decoder = decoders.BPEDecoder(suffix="</w>")
    plain = Tokenizer(models.WordLevel({"<unk>": 0, "a": 1, "b": 2}, unk_token="<unk>"))
    found = {"byte_level": byte_level, "llama": llama, "metaspace": unigram,
             "wordpiece": wordpiece, "bpe_suffix": bpe_suffix, "no_decoder": plain}
    for tokenizer in found.values():
        tokenizer.add_tokens([AddedToken("<plain>", special=False), AddedToken("Ġx", special=False)])
        tokenizer.add_special_tokens([AddedToken("<special>", special=True)])
    return found


def decode_cases(folder: Path, rng: np.random.Generator) -> tuple[list[dict], list[list[str]]]:
    cases, expected = [], []
    for name, tokenizer in tokenizers_under_test(folder).items():
        path = folder / f"{name}.tokenizer.json"
        tokenizer.save(str(path))
        size = tokenizer.get_vocab_size(with_added_tokens=True)
        sequences = [rng.integers(0, size + 2, rng.integers(0, 12)).tolist() for _ in range(40)]
        sequences += [tokenizer.encode(text, add_special_tokens=False).ids
                      for text in ("a red circle", "café ☕ naïve", "hello, world")]
        for skip in (True, False):
            cases.append({"tokenizer": str(path), "sequences": sequences, "skip": skip})
            expected.append([tokenizer.decode(ids, skip_special_tokens=skip)
                             for ids in sequences])
    return cases, expected


def generate_rules(rng: np.random.Generator, count: int = 60) -> list[dict]:
    """Random rule sets: beams 1-4, lengths 3-12, every logits rule on or off."""
    rules = []
    for _ in range(count):
        rule = {"numBeams": int(rng.integers(1, 5)), "maxNewTokens": int(rng.integers(3, 13))}
        if rng.random() < 0.4:
            rule["repetitionPenalty"] = float(rng.choice([0.7, 1.3, 2.0]))
        if rng.random() < 0.3:
            rule["noRepeatNgramSize"] = int(rng.integers(1, 4))
        if rng.random() < 0.3:
            rule["minNewTokens"] = int(rng.integers(1, 6))
        if rng.random() < 0.3:
            rule["badWordsIds"] = [[5], [6, 7], [EOS]]
        rules.append(rule)
    return rules


VOCAB, BIAS_ROWS, EOS, START = 14, 5, 3, 0


def _python_rules(rules: dict) -> Rules:
    return Rules(max_new_tokens=rules["maxNewTokens"], eos_id=EOS, pad_id=EOS,
                 num_beams=rules["numBeams"], min_new_tokens=rules.get("minNewTokens", 0),
                 repetition_penalty=rules.get("repetitionPenalty", 1.0),
                 no_repeat_ngram_size=rules.get("noRepeatNgramSize", 0),
                 bad_words_ids=tuple(tuple(w) for w in rules.get("badWordsIds", [])))


def generate_cases(folder: Path, rng: np.random.Generator) -> tuple[list[dict], list[list[int]]]:
    """A table-driven fake decoder whose logits depend on each row's whole history."""
    cases, expected = [], []
    for i, rules in enumerate(generate_rules(rng)):
        table = rng.normal(0, 2, (VOCAB, VOCAB)).astype(np.float32)
        table[:, EOS] += rng.uniform(0, 3)  # EOS competitive: captions of varied lengths
        bias = rng.normal(0, 1, (BIAS_ROWS, VOCAB)).astype(np.float32)

        def logits_for(history: np.ndarray, table=table, bias=bias) -> np.ndarray:
            return table[history[:, -1]] + bias[history.sum(axis=1) % BIAS_ROWS]

        def step(tokens: np.ndarray, cache: Cache, logits_for=logits_for):
            history = np.concatenate([cache.arrays[0][:, 0, :, 0], tokens[:, None]], axis=1)
            return logits_for(history), Cache([history[:, None, :, None]])

        start = np.array([[START]])
        search = beam_search if rules["numBeams"] > 1 else greedy
        ids = search(step, logits_for(start), Cache([start[:, None, :, None]]),
                     _python_rules(rules))
        expected.append(until_eos(ids[0].tolist(), EOS))
        cases.append({"table": _write(folder, f"gen{i}.table", table),
                      "bias": _write(folder, f"gen{i}.bias", bias), "vocab": VOCAB,
                      "biasRows": BIAS_ROWS, "eos": EOS, "start": START, "rules": rules})
    return cases, expected


@pytest.fixture(scope="module")
def node_results(tmp_path_factory):
    folder = tmp_path_factory.mktemp("web-units")
    rng = np.random.default_rng(0)
    decode, decoded = decode_cases(folder, rng)
    generate, generated = generate_cases(folder, rng)
    args = {"resize": resize_cases(folder, rng), "composite": composite_cases(folder, rng),
            "preprocess": preprocess_cases(folder, rng), "decode": decode, "generate": generate}
    result = run_script(SCRIPTS / "units.mjs", args, folder, timeout=60)
    return args, result, decoded, generated


def _resize_ok(case: dict, r: dict) -> bool:
    if case["resample"] not in TRIG_FILTERS:
        return r["count"] == 0
    # sin/cos of V8 and of the C library may differ by an ulp, which can flip the rounding
    # of a fixed-point coefficient that sits on a half: rarely, a byte off by one.
    return r["count"] >= 0 and r["count"] <= case["outW"] * case["outH"] * 3 / 1000 \
        and r.get("maxDiff", 0) <= 1


def test_resize_matches_pillow_for_every_filter(node_results):
    args, result, _, _ = node_results
    bad = {case["name"]: r for case, r in zip(args["resize"], result["resize"], strict=True)
           if not _resize_ok(case, r)}
    assert len(result["resize"]) == len(SIZES) * 2 * len(FILTERS)
    assert not bad, f"resize differs from Pillow: {bad}"


def test_rgba_composited_on_white_as_pillow(node_results):
    _, result, _, _ = node_results
    assert result["composite"] == [{"count": 0, "maxDiff": 0}]


def test_preprocessing_is_bit_identical_to_python(node_results):
    args, result, _, _ = node_results
    for case, r in zip(args["preprocess"], result["preprocess"], strict=True):
        assert r["dims"] == case["dims"], case["name"]
        assert r["count"] == 0, f"{case['name']}: {r}"


def test_tokenizer_decoding_matches_tokenizers(node_results):
    args, result, decoded, _ = node_results
    for case, got, want in zip(args["decode"], result["decode"], decoded, strict=True):
        name = Path(case["tokenizer"]).name
        for ids, g, w in zip(case["sequences"], got, want, strict=True):
            assert g == w, f"{name} skip={case['skip']} ids={ids}"


def test_greedy_and_beam_match_python_decoding(node_results):
    args, result, _, generated = node_results
    for case, got, want in zip(args["generate"], result["generate"], generated, strict=True):
        assert until_eos(got, EOS) == want, case["rules"]
    lengths = {len(g) for g in generated}
    assert len(lengths) > 5  # the cases end at many different steps
