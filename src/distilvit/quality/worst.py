"""The worst examples, by one combined problem score, kept with a thumbnail of their image.

Score = weighted mean of the problems that could be measured for the example, each in [0, 1]:
misalignment 1 - CLIP-S/2.5 (weight 1), infidelity 1 - fidelity (weight 1), a bias term in a
caption (1 or 0, weight 1), a caption outside [min_words, max_words] (weight 0.5), a caption
that repeats an earlier one word for word (weight 0.5). Only the current top-k live in memory,
each with a small PNG thumbnail, so the pass never holds more than k images.
"""

from __future__ import annotations

import base64
import heapq
import io
import itertools
from dataclasses import dataclass, field
from typing import Any

from PIL import Image

from distilvit.quality.alignment import W

THUMBNAIL = 160
WEIGHTS = {"alignment": 1.0, "fidelity": 1.0, "bias": 1.0, "length": 0.5, "duplicate": 0.5}


@dataclass
class Problems:
    clip_score: float | None = None
    fidelity: float | None = None
    bias_terms: dict[str, list[str]] = field(default_factory=dict)
    bad_length: bool = False
    duplicate: bool = False

    def components(self) -> dict[str, float]:
        parts = {"bias": float(bool(self.bias_terms)), "length": float(self.bad_length),
                 "duplicate": float(self.duplicate)}
        if self.clip_score is not None:
            parts["alignment"] = 1.0 - min(max(self.clip_score / W, 0.0), 1.0)
        if self.fidelity is not None:
            parts["fidelity"] = 1.0 - min(max(self.fidelity, 0.0), 1.0)
        return parts

    def score(self) -> float:
        parts = self.components()
        return sum(WEIGHTS[k] * v for k, v in parts.items()) / sum(WEIGHTS[k] for k in parts)

    def reasons(self) -> list[str]:
        out = []
        if self.clip_score is not None:
            out.append(f"CLIPScore {self.clip_score:.2f}")
        if self.fidelity is not None:
            out.append(f"fidelity {self.fidelity:.2f}")
        for category, terms in self.bias_terms.items():
            out.append(f"{category}: {', '.join(sorted(set(terms)))}")
        if self.bad_length:
            out.append("length out of range")
        if self.duplicate:
            out.append("duplicate caption")
        return out


def thumbnail_data_uri(image: Image.Image, size: int = THUMBNAIL) -> str:
    thumb = image.copy()
    thumb.thumbnail((size, size))
    buffer = io.BytesIO()
    thumb.save(buffer, "PNG", optimize=True)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


class WorstExamples:
    """A bounded min-heap on the score: the k highest scores seen so far."""

    def __init__(self, k: int):
        self.k = k
        self._heap: list[tuple[float, int, dict[str, Any]]] = []
        self._order = itertools.count()

    def offer(self, score: float, record, problems: Problems) -> None:
        if self.k <= 0:
            return
        if len(self._heap) >= self.k and score <= self._heap[0][0]:
            return  # not among the worst: no thumbnail made
        entry = {"id": record.id, "source": record.source, "score": score,
                 "captions": record.captions[:3], "originals": record.originals[:2],
                 "reasons": problems.reasons(),
                 "image": thumbnail_data_uri(record.image) if record.image is not None else None}
        item = (score, -next(self._order), entry)  # ties: the earlier example stays
        if len(self._heap) < self.k:
            heapq.heappush(self._heap, item)
        else:
            heapq.heapreplace(self._heap, item)

    def worst_first(self) -> list[dict[str, Any]]:
        return [entry for _, _, entry in sorted(self._heap, key=lambda t: (-t[0], -t[1]))]
