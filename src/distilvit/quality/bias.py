"""Bias rates of a set of captions: per lexicon category, the share of captions that use at
least one of its terms, the share per group, and the most frequent terms."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from distilvit.words.lexicons import LEXICONS


@dataclass
class BiasTally:
    """Counts captions (not words): a caption with two gendered words counts once."""

    captions: int = 0
    any_term: int = 0
    with_category: Counter[str] = field(default_factory=Counter)
    with_group: Counter[tuple[str, str]] = field(default_factory=Counter)
    terms: dict[str, Counter[str]] = field(default_factory=dict)

    def add(self, caption: str) -> dict[str, list[str]]:
        """Count one caption; return its terms by category (empty categories left out)."""
        self.captions += 1
        found: dict[str, list[str]] = {}
        for name, lex in LEXICONS.items():
            hits = lex.find(caption)
            if not hits:
                continue
            found[name] = hits
            self.with_category[name] += 1
            self.terms.setdefault(name, Counter()).update(hits)
            for group in {lex.group_of(term) for term in hits}:
                self.with_group[(name, group)] += 1
        self.any_term += bool(found)
        return found

    def add_all(self, captions: Iterable[str]) -> BiasTally:
        for caption in captions:
            self.add(caption)
        return self

    def rate(self, category: str) -> float:
        return self.with_category[category] / self.captions if self.captions else 0.0

    def summary(self, top: int = 8) -> dict[str, Any]:
        n = self.captions
        return {
            "captions": n,
            "any_category_rate": self.any_term / n if n else 0.0,
            "categories": {
                name: {
                    "rate": self.rate(name),
                    "captions": self.with_category[name],
                    "groups": {group: self.with_group[(name, group)] / n if n else 0.0
                               for group in lex.groups},
                    "top_terms": self.terms.get(name, Counter()).most_common(top),
                } for name, lex in LEXICONS.items()},
        }


def lexicon_sources() -> dict[str, str]:
    """Where each category's word list comes from (the report cites them)."""
    return {name: lex.source for name, lex in LEXICONS.items()}
