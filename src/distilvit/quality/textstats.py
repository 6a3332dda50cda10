"""Caption text statistics: length distribution, vocabulary, exact duplicates."""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from dataclasses import dataclass, field
from statistics import median
from typing import Any

_WORD = re.compile(r"[a-z0-9]+(?:['’-][a-z0-9]+)*")


def words(caption: str) -> list[str]:
    return _WORD.findall(caption.lower())


def normalised(caption: str) -> str:
    """Case, spacing and punctuation do not make a caption new."""
    return " ".join(words(caption))


@dataclass
class TextTally:
    lengths: Counter[int] = field(default_factory=Counter)  # words per caption -> captions
    vocabulary: Counter[str] = field(default_factory=Counter)
    duplicates: int = 0
    _seen: set[bytes] = field(default_factory=set, repr=False)

    def add(self, caption: str) -> tuple[int, bool]:
        """Count one caption; return (its word count, whether an equal one came before)."""
        tokens = words(caption)
        self.lengths[len(tokens)] += 1
        self.vocabulary.update(tokens)
        key = hashlib.blake2b(" ".join(tokens).encode(), digest_size=12).digest()
        duplicate = key in self._seen
        self.duplicates += duplicate
        self._seen.add(key)
        return len(tokens), duplicate

    @property
    def captions(self) -> int:
        return sum(self.lengths.values())

    def summary(self) -> dict[str, Any]:
        n = self.captions
        all_lengths = sorted(self.lengths.elements())
        return {
            "captions": n,
            "mean_words": sum(all_lengths) / n if n else 0.0,
            "median_words": float(median(all_lengths)) if n else 0.0,
            "min_words": all_lengths[0] if n else 0,
            "max_words": all_lengths[-1] if n else 0,
            "vocabulary_size": len(self.vocabulary),
            "type_token_ratio": len(self.vocabulary) / max(sum(self.vocabulary.values()), 1),
            "duplicate_rate": self.duplicates / n if n else 0.0,
            "length_histogram": {str(k): v for k, v in sorted(self.lengths.items())},
            "top_words": self.vocabulary.most_common(20),
        }
