"""Bias lexicons: whole-word, case-insensitive matching; context rules; the gender lists."""

from __future__ import annotations

import pytest

from distilvit.errors import UsageError
from distilvit.eval.metrics import MetricError, gendered_rate
from distilvit.words.lexicons import GENDER, LEXICONS, Lexicon, find_terms, lexicon


@pytest.mark.parametrize("text, expected", [
    ("A man riding a wave", ["man"]),
    ("Women walking on a beach", ["women"]),
    ("the man's hat", ["man"]),
    ("the man\u2019s hat", ["man"]),
    ("SHE and her brother", ["she", "her", "brother"]),
    ("two gentlemen and a lady", ["gentlemen", "lady"]),
    ("a mother-in-law", ["mother"]),
    ("a manhole cover in the street", []),
    ("a history of mankind", []),
    ("this is there, here", []),
    ("a man-made lake", []),  # the one gender context rule
    ("a germane question about a human", []),
    ("a dog", []),
])
def test_gender_terms(text: str, expected: list[str]) -> None:
    assert find_terms(text, "gender") == expected


def test_plurals_are_listed_not_derived() -> None:
    for singular, plural in [("man", "men"), ("woman", "women"), ("wife", "wives"),
                             ("father", "fathers"), ("actress", "actresses")]:
        assert {singular, plural} <= GENDER.terms
    assert "mans" not in GENDER.terms


def test_groups_split_masculine_and_feminine() -> None:
    assert GENDER.group_of("Men") == "masculine"
    assert GENDER.group_of("hers") == "feminine"
    assert GENDER.groups["masculine"].isdisjoint(GENDER.groups["feminine"])
    # The word lists of Hendricks et al. 2018 are all there.
    for word in "he his him himself cowboy dude emperors waiter".split():
        assert GENDER.group_of(word) == "masculine"
    for word in "she her hers herself pregnant queens waitress".split():
        assert GENDER.group_of(word) == "feminine"


def test_context_rule_hook_for_later_categories() -> None:
    colour_words = Lexicon(name="test-race", groups={"colour": frozenset({"black", "white"})},
                           exclude=(r"\b(?:black|white)\s+(?:dog|cat|shirt)s?\b",))
    assert colour_words.find("a black dog and a white   cat") == []
    assert colour_words.find("a black man with a white shirt") == ["black"]


def test_phrases_match_across_whitespace() -> None:
    ages = Lexicon(name="test-age", groups={"adult": frozenset({"middle aged", "middle"})})
    assert ages.find("a Middle  aged man in the middle") == ["middle aged", "middle"]


def test_bad_lexicons_and_categories_are_refused() -> None:
    with pytest.raises(ValueError, match="lowercase"):
        Lexicon(name="x", groups={"a": frozenset({"Man"})})
    with pytest.raises(ValueError, match="two groups"):
        Lexicon(name="x", groups={"a": frozenset({"x"}), "b": frozenset({"x"})})
    with pytest.raises(UsageError, match="known: gender"):
        lexicon("no-such-category")
    assert set(LEXICONS) >= {"gender"}


def test_gendered_rate() -> None:
    captions = ["A man on a horse", "a manhole", "Women walking", "the man's hat", "a dog",
                "mankind", "", "a MAN-MADE lake"]
    assert gendered_rate(captions) == pytest.approx(3 / 8)
    assert gendered_rate(["a cat"]) == 0.0
    with pytest.raises(MetricError, match="at least one caption"):
        gendered_rate([])
