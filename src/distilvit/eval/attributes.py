"""Scoring a generated caption of a `shapes` scene against the objects really drawn."""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

from distilvit.data.synthetic import COLOURS, COUNT_WORDS, SHAPES, SIZES

_NUMBERS = {word: n for n, word in COUNT_WORDS.items()} | {"an": 1, "one": 1}
_PHRASE = re.compile(
    rf"\b({'|'.join(_NUMBERS)})\s+(?:({'|'.join(SIZES)})\s+)?({'|'.join(COLOURS)})\s+"
    rf"({'|'.join(SHAPES)})s?\b")

Kind = tuple[str | None, str, str]  # (size, colour, shape)


def parse_caption(text: str) -> Counter[Kind]:
    """Objects a caption names, with multiplicity: 'two small red stars' -> 2 x (small, red, star)."""
    found: Counter[Kind] = Counter()
    for number, size, colour, shape in _PHRASE.findall(text.lower()):
        found[(size or None, colour, shape)] += _NUMBERS[number]
    return found


def truth_kinds(objects: list[dict[str, Any]]) -> Counter[Kind]:
    return Counter((o["size"], o["colour"], o["shape"]) for o in objects)


def _project(kinds: Counter[Kind], keep: tuple[int, ...]) -> Counter:
    out: Counter = Counter()
    for kind, n in kinds.items():
        out[tuple(kind[i] for i in keep)] += n
    return out


def score_scene(text: str, objects: list[dict[str, Any]]) -> dict[str, bool | float]:
    """Per-image checks; `attributes` = every object's colour, shape and count right."""
    said, truth = parse_caption(text), truth_kinds(objects)
    matched = sum((said & truth).values())
    precision = matched / max(1, sum(said.values()))
    recall = matched / max(1, sum(truth.values()))
    return {
        "attributes": _project(said, (1, 2)) == _project(truth, (1, 2)),
        "strict": said == truth,
        "count": sum(said.values()) == sum(truth.values()),
        "colour": _project(said, (1,)) == _project(truth, (1,)),
        "shape": _project(said, (2,)) == _project(truth, (2,)),
        "size": _project(said, (0,)) == _project(truth, (0,)),
        "object_f1": 2 * precision * recall / (precision + recall) if matched else 0.0,
    }


def attribute_scores(captions: list[str], scenes: list[list[dict[str, Any]]]) -> dict[str, float]:
    """Means over images: attribute_accuracy, strict_accuracy, per-attribute accuracy, F1."""
    rows = [score_scene(c, s) for c, s in zip(captions, scenes, strict=True)]
    mean = lambda key: sum(float(r[key]) for r in rows) / max(1, len(rows))  # noqa: E731
    return {"attribute_accuracy": mean("attributes"), "strict_accuracy": mean("strict"),
            "count_accuracy": mean("count"), "colour_accuracy": mean("colour"),
            "shape_accuracy": mean("shape"), "size_accuracy": mean("size"),
            "object_f1": mean("object_f1")}
