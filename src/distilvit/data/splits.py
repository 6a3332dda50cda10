"""Train/validation/test assignment shared by every source.

A source that ships its own split (split names, or a split column) keeps it. A source that does
not gets a *seeded split by image id*: a stable hash of `seed` and the id picks the split, so the
same image lands in the same split on every machine, in every run, whatever the row order, and
no image can be in two splits. Row-order splits (`train_test_split`, `select(range(...))`) have
neither property; the original `validation` loader even copied its val/test rows into train.
"""

from __future__ import annotations

import hashlib

from distilvit.data.schema import SPLITS
from distilvit.errors import UsageError

Fractions = tuple[float, float, float]  # train, validation, test

DEFAULT_FRACTIONS: Fractions = (0.90, 0.05, 0.05)

# Names sources and folders use for the three splits (datasets' own keywords, plus Karpathy's
# "val" and Flickr8k's "dev").
_ALIASES = {
    "train": "train", "training": "train",
    "validation": "validation", "valid": "validation", "val": "validation", "dev": "validation",
    "test": "test", "testing": "test",
}


def check_split(split: str) -> str:
    """`split` itself when it is one of SPLITS; a one-line UsageError otherwise."""
    if split not in SPLITS:
        raise UsageError(f"unknown split {split!r}; choose one of {', '.join(SPLITS)}")
    return split


def canonical_split(name: object) -> str | None:
    """Map a source's split name ('val', 'dev', 'Train') to one of SPLITS, or None if unknown."""
    if not isinstance(name, str):
        return None
    return _ALIASES.get(name.strip().lower())


def unit_hash(key: str, seed: int) -> float:
    """A number in [0, 1) fixed by (seed, key): sha256, so it does not vary between processes
    the way Python's salted `hash()` does."""
    digest = hashlib.sha256(f"{seed}\x00{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def seeded_split(key: str, seed: int = 0, fractions: Fractions = DEFAULT_FRACTIONS) -> str:
    """The split an image with id `key` belongs to, for a given seed and train/val/test fractions."""
    if any(f < 0 for f in fractions) or abs(sum(fractions) - 1.0) > 1e-9:
        raise ValueError(f"split fractions must be >= 0 and sum to 1, got {fractions}")
    point, edge = unit_hash(key, seed), 0.0
    for name, fraction in zip(SPLITS, fractions, strict=True):
        edge += fraction
        if point < edge:
            return name
    # Float rounding at the very top of [0, 1): the last split that takes any images.
    return [name for name, fraction in zip(SPLITS, fractions, strict=True) if fraction > 0][-1]
