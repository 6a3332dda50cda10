"""COCO caption metrics: real pycocoevalcap under Java, the no-Java path, and the edge cases."""

from __future__ import annotations

import gc
import logging
import shutil
import subprocess
import urllib.error

import pytest

from distilvit.eval import metrics, tokenize
from distilvit.eval.metrics import MetricError, caption_metrics

needs_java = pytest.mark.skipif(shutil.which("java") is None, reason="needs a Java runtime")

REFERENCES = {
    "surf": ["A man riding a wave on top of a surfboard.", "A surfer rides a large wave."],
    "dogs": ["Two dogs are playing with a frisbee in the park!", "Dogs play on the grass."],
    "food": ["A plate with eggs, bacon and toast.", "Breakfast food on a white plate."],
    "bus": ["A red bus parked on the side of a street.", "A double decker bus on a road."],
}
IDENTICAL = {image: refs[0] for image, refs in REFERENCES.items()}
UNRELATED = {"surf": "purple elephants juggling violins", "dogs": "",
             "food": "an empty parking garage at midnight", "bus": "seven kittens asleep"}
KEYS = ["bleu1", "bleu2", "bleu3", "bleu4", "meteor", "rougeL", "cider", "mean_length",
        "n_images"]
# Caption-like text with the punctuation PTBTokenizer has opinions about.
PTB_CASES = [
    "A woman's hand holds a cell phone, next to a laptop.",
    "The kitchen is clean; there's a stove and a fridge.",
    "A child (about 5 years old) eats a slice of pizza.",
    "People walking down a busy street at night...",
    'A "stop" sign on the corner of the street',
    "An elephant standing in the grass -- near some trees",
    "Isn't this a giraffe? It's very tall!!",
    "A 9-year-old boy plays baseball at 3:30 p.m.",
    "Someone\u2019s bike leaning against a wall",
    "The U.S. flag flies over a building",
    "A cat sleeping on a couch \U0001F600",
    "  extra   spaces\tand a tab\u2028and a line separator ",
    "",
    "...",
    "Two men\u2019s umbrellas [red and blue] on the beach",
    "A $5 sandwich, 50% off",
    "Mr. Smith's dog can't swim",
    "A \u201cfancy\u201d cake \u2014 with candles: 3 of them",
    "THE DOGS' BOWLS ARE EMPTY",
    "a bus that says 'downtown' on it",
]


@pytest.fixture(scope="module")
def java_runs():
    """Both corpora scored with Java in a `one_meteor()` block: one METEOR JVM (each takes
    seconds to load), which the block closes."""
    if shutil.which("java") is None:
        pytest.skip("needs a Java runtime")
    started, real_start = [], metrics._start_meteor
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(metrics, "_start_meteor", lambda: started.append(real_start()) or started[-1])
        with metrics.one_meteor():
            same = caption_metrics(IDENTICAL, REFERENCES)
            other = caption_metrics(UNRELATED, REFERENCES)
            running = started[0].meteor_p.returncode is None
    return {"identical": same, "unrelated": other, "started": started,
            "running_in_block": running}


def no_java(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tokenize, "find_java", lambda: None)


def test_keys_and_types(java_runs) -> None:
    for scores in (java_runs["identical"], java_runs["unrelated"]):
        assert list(scores) == KEYS
        assert all(type(scores[k]) is float for k in KEYS if k != "n_images")
        assert scores["n_images"] == 4 and type(scores["n_images"]) is int


def test_identical_captions_score_high_unrelated_low(java_runs) -> None:
    same, other = java_runs["identical"], java_runs["unrelated"]
    for key in ("bleu1", "bleu4", "meteor", "rougeL"):
        assert same[key] > 0.9, key
        assert other[key] < 0.1, key
    assert same["cider"] > 3 * other["cider"] + 1
    assert other["mean_length"] == pytest.approx((4 + 0 + 6 + 3) / 4)


def test_meteor_jvm_is_shared_then_closed(java_runs) -> None:
    assert len(java_runs["started"]) == 1 and java_runs["running_in_block"]
    scorer = java_runs["started"][0]
    assert scorer.meteor_p.returncode is not None
    assert scorer.meteor_p.stdin.closed and scorer.meteor_p.stdout.closed


def test_a_shared_meteor_scores_as_a_fresh_one(java_runs) -> None:
    """The second corpus scored in the shared JVM, again on a JVM of its own (which
    caption_metrics closes before returning): every score the same."""
    alone = caption_metrics(UNRELATED, REFERENCES)
    assert alone == java_runs["unrelated"]


@needs_java
def test_python_tokeniser_matches_ptbtokenizer() -> None:
    assert [tokenize.simple_tokenize(t) for t in PTB_CASES] == \
        tokenize.stanford_tokenize(PTB_CASES, tokenize.find_java())
    assert tokenize.simple_tokenize("A woman's hat (red).") == "a woman 's hat -lrb- red -rrb-"


def test_without_java_scores_all_but_meteor(monkeypatch, caplog, java_runs) -> None:
    no_java(monkeypatch)
    with caplog.at_level(logging.WARNING, logger="distilvit.eval.metrics"):
        scores = caption_metrics(IDENTICAL, REFERENCES)
    assert "java not found" in caplog.text
    assert scores["meteor"] is None
    # Same tokens as the jar on these captions, so the same numbers.
    for key in KEYS:
        if key != "meteor":
            assert scores[key] == pytest.approx(java_runs["identical"][key]), key


def test_failing_tokeniser_jar_falls_back(monkeypatch, caplog) -> None:
    def broken(texts, java):
        raise subprocess.CalledProcessError(1, [java])

    monkeypatch.setattr(tokenize, "find_java", lambda: "/no/such/java")
    monkeypatch.setattr(tokenize, "stanford_tokenize", broken)
    with caplog.at_level(logging.WARNING):
        scores = caption_metrics(IDENTICAL, REFERENCES, meteor=False)
    assert "tokenising in Python" in caplog.text
    assert scores["bleu4"] > 0.9 and scores["meteor"] is None


def test_single_image_reports_no_cider(monkeypatch, caplog) -> None:
    no_java(monkeypatch)
    with caplog.at_level(logging.WARNING):
        scores = caption_metrics({"surf": IDENTICAL["surf"]}, REFERENCES)
    assert scores["cider"] is None and "CIDEr needs at least 2 images" in caplog.text
    assert scores["bleu1"] > 0.9 and scores["n_images"] == 1


def test_empty_predictions_score_zero(monkeypatch) -> None:
    no_java(monkeypatch)
    scores = caption_metrics({image: "" for image in REFERENCES}, REFERENCES)
    assert scores["mean_length"] == 0.0
    for key in ("bleu1", "bleu4", "rougeL", "cider"):
        assert scores[key] == pytest.approx(0.0, abs=1e-6), key


def test_ids_of_any_hashable_type_and_extra_references(monkeypatch) -> None:
    no_java(monkeypatch)
    references = {i: refs for i, refs in enumerate(REFERENCES.values())}
    scores = caption_metrics({0: "a man riding a wave", 1: "two dogs"}, references)
    assert scores["n_images"] == 2


def test_blank_references_are_dropped(monkeypatch) -> None:
    no_java(monkeypatch)
    padded = {image: [*refs, "", "   "] for image, refs in REFERENCES.items()}
    assert caption_metrics(IDENTICAL, padded) == caption_metrics(IDENTICAL, REFERENCES)


@pytest.mark.parametrize("predictions, references, message", [
    ({}, REFERENCES, "no predictions"),
    ({"cat": "a cat"}, REFERENCES, "have no references"),
    ({"surf": "a man"}, {"surf": "a man surfing"}, "not one string"),
    ({"surf": "a man", "x": "y"}, {"surf": ["a man"], "x": ["", "..."]}, "with words"),
])
def test_unusable_input_is_one_clear_error(monkeypatch, predictions, references,
                                           message) -> None:
    no_java(monkeypatch)
    with pytest.raises(MetricError, match=message):
        caption_metrics(predictions, references)


def test_spice_without_java_is_one_clear_error(monkeypatch) -> None:
    no_java(monkeypatch)
    with pytest.raises(MetricError, match="SPICE needs Java"):
        caption_metrics(IDENTICAL, REFERENCES, spice=True)


@needs_java
def test_spice_offline_is_one_clear_error(monkeypatch) -> None:
    from pycocoevalcap.spice import spice

    def offline():
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(spice, "get_stanford_models", offline)
    with pytest.raises(MetricError, match="SPICE failed .*CoreNLP") as caught:
        caption_metrics(IDENTICAL, REFERENCES, spice=True, meteor=False)
    assert "\n" not in str(caught.value)


@pytest.fixture()
def dead_meteors(monkeypatch) -> list:
    """Every METEOR started from now on has its JVM killed at once; the list collects them."""
    real_start = metrics._start_meteor
    started = []

    def start_and_kill():
        scorer = real_start()
        scorer.meteor_p.kill()
        scorer.meteor_p.wait()
        started.append(scorer)
        return scorer

    monkeypatch.setattr(metrics, "_start_meteor", start_and_kill)
    return started


@needs_java
def test_dead_meteor_jvm_gives_none_not_a_hang(dead_meteors, caplog) -> None:
    started = dead_meteors
    with caplog.at_level(logging.WARNING):
        scores = caption_metrics(IDENTICAL, REFERENCES)
    assert scores["meteor"] is None and "METEOR failed" in caplog.text
    assert scores["bleu4"] > 0.9
    # compute_score died holding Meteor's lock; its __del__ must still not block.
    scorer = started.pop()
    assert scorer.lock.acquire(timeout=1)
    scorer.lock.release()
    del scorer
    gc.collect()


@needs_java
def test_a_dead_shared_meteor_is_not_reused(dead_meteors, caplog) -> None:
    """In a `one_meteor()` block a JVM that failed is dropped (its lock may be held): the
    next call starts its own instead of waiting on the dead one."""
    started = dead_meteors
    with caplog.at_level(logging.WARNING), metrics.one_meteor():
        first = caption_metrics(IDENTICAL, REFERENCES)
        second = caption_metrics(UNRELATED, REFERENCES)
    assert first["meteor"] is None and second["meteor"] is None
    assert len(started) == 2 and started[0] is not started[1]
