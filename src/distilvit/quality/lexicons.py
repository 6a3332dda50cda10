"""Bias term lexicons: word lists by category, matched as whole words, with context rules.

A `Lexicon` is a set of named groups of terms (gender: masculine / feminine) plus `exclude`
patterns, the hook for context rules. A term occurrence that lies inside a match of an
`exclude` pattern is not counted: a later race lexicon can list "black" and exclude
r"\\bblack (?:dog|cat|shirt)\\b", an age lexicon can exclude "old town". Terms may be phrases
("middle aged"); any run of whitespace in the text matches the space in a phrase.

Matching is case-insensitive and on word boundaries, so "manhole", "mankind", "there" and
"this" hold no gendered term while "Women" and "the man's hat" do. Inflections are not
derived: every plural a lexicon should match is listed explicitly.

New categories (age, race/ethnicity, nationality, religion, disability, sexual orientation,
body/appearance) plug in by adding an entry to `LEXICONS`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property

from distilvit.errors import UsageError

__all__ = ["GENDER", "LEXICONS", "Lexicon", "find_terms", "lexicon"]


@dataclass(frozen=True)
class Lexicon:
    """Named groups of lowercase terms, plus regexes whose matches shield a term from counting."""

    name: str
    groups: Mapping[str, frozenset[str]]
    exclude: tuple[str, ...] = ()
    source: str = ""
    _group_of: dict[str, str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        group_of: dict[str, str] = {}
        for group, terms in self.groups.items():
            for term in terms:
                if term != term.lower().strip() or not term:
                    raise ValueError(f"lexicon {self.name!r}: term {term!r} must be lowercase")
                if group_of.setdefault(term, group) != group:
                    raise ValueError(f"lexicon {self.name!r}: {term!r} is in two groups")
        object.__setattr__(self, "_group_of", group_of)

    @property
    def terms(self) -> frozenset[str]:
        return frozenset(self._group_of)

    def group_of(self, term: str) -> str:
        """The group ("masculine", "feminine", ...) a term found by `find` belongs to."""
        return self._group_of[term.lower()]

    @cached_property
    def _pattern(self) -> re.Pattern[str]:
        # Longest first, so a phrase wins over the single word it starts with.
        alternatives = sorted(self._group_of, key=len, reverse=True)
        body = "|".join(r"\s+".join(map(re.escape, term.split())) for term in alternatives)
        return re.compile(rf"\b(?:{body})\b", re.IGNORECASE)

    @cached_property
    def _excludes(self) -> tuple[re.Pattern[str], ...]:
        return tuple(re.compile(p, re.IGNORECASE) for p in self.exclude)

    def find(self, text: str) -> list[str]:
        """Terms in `text`, lowercased, in order of occurrence (repeats kept)."""
        shielded = [m.span() for p in self._excludes for m in p.finditer(text)]
        found = []
        for match in self._pattern.finditer(text):
            start, end = match.span()
            if not any(s <= start and end <= e for s, e in shielded):
                found.append(" ".join(match.group().lower().split()))
        return found


def _with_plurals(*pairs: str) -> frozenset[str]:
    """Space-separated "singular plural" pairs (or single words) as one set of terms."""
    return frozenset(word for pair in pairs for word in pair.split())


# Hendricks et al. 2018, "Women also Snowboard: Overcoming Bias in Captioning Models" (ECCV,
# arXiv:1803.09797): the gendered words the paper lists. The same two lists are the gender
# masks of Hirota et al. 2022, "Quantifying Societal Bias Amplification in Image Captioning"
# (CVPR; rebnej/lick-caption-bias, lstm_leakage.py), where we checked them.
_HENDRICKS_MASCULINE = (
    "man men", "male", "father", "gentleman gentlemen", "boy boys", "uncle", "husband",
    "actor", "prince", "waiter", "son", "he his him himself", "brother brothers", "guy guys",
    "emperor emperors", "dude dudes", "cowboy",
)
_HENDRICKS_FEMININE = (
    "woman women", "female", "lady ladies", "mother", "girl girls", "aunt", "wife", "actress",
    "princess", "waitress", "daughter", "she her hers herself", "sister sisters",
    "queen queens", "pregnant",
)
# Added here: the plurals the paper's list lacks (so "two fathers" counts like "a father"),
# and dad / mom / groom / bride, the synonyms in the paper's own analysis code
# (kayburns/women-snowboard, data_analysis_common.py).
_ADDED_MASCULINE = (
    "males", "fathers", "uncles", "husbands", "actors", "princes", "waiters", "sons",
    "cowboys", "dad dads", "groom grooms",
)
_ADDED_FEMININE = (
    "females", "mothers", "aunts", "wives", "actresses", "princesses", "waitresses",
    "daughters", "mom moms", "bride brides",
)

GENDER = Lexicon(
    name="gender",
    groups={
        "masculine": _with_plurals(*_HENDRICKS_MASCULINE, *_ADDED_MASCULINE),
        "feminine": _with_plurals(*_HENDRICKS_FEMININE, *_ADDED_FEMININE),
    },
    # "man-made" describes an object, not a person.
    exclude=(r"\bman-made\b",),
    source="Hendricks et al. 2018 (ECCV), with explicit plurals and dad/mom/groom/bride added",
)

LEXICONS: dict[str, Lexicon] = {GENDER.name: GENDER}


def lexicon(category: str) -> Lexicon:
    """The lexicon for `category`, or one line naming the categories there are."""
    try:
        return LEXICONS[category]
    except KeyError:
        known = ", ".join(sorted(LEXICONS))
        raise UsageError(f"unknown lexicon category {category!r}; known: {known}") from None


def find_terms(text: str, category: str) -> list[str]:
    """Terms of `category` in `text`, lowercased, in order of occurrence (repeats kept)."""
    return lexicon(category).find(text)
