"""Object frequencies: counts, balance measures, rare objects and sampling weights.

An object is counted once per image that holds it. Balance is measured on the distribution
of those counts: Shannon entropy (bits, and divided by log2 of the number of objects, 1 =
perfectly even), the Gini coefficient (0 = even, 1 = one object takes everything) and the
share of the 5 and 10 most frequent objects.

Inverse-frequency sampling weights: object o with count n_o over K objects and N mentions
gets w_o = N / (K * n_o) (1 for an object of average frequency). An image takes the weight of
its rarest object, so sampling by weight shows rare objects more often; images without objects
get 1; weights are then scaled to average 1 over images.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any


def entropy_bits(counts: Sequence[int]) -> float:
    total = sum(counts)
    return -sum(c / total * math.log2(c / total) for c in counts if c) if total else 0.0


def gini(counts: Sequence[int]) -> float:
    """Gini coefficient of non-negative counts (sorted-rank formula, O(n log n))."""
    values = sorted(counts)
    n, total = len(values), sum(values)
    if n == 0 or total == 0:
        return 0.0
    ranked = sum((i + 1) * v for i, v in enumerate(values))
    return (2 * ranked) / (n * total) - (n + 1) / n


def top_share(counts: Sequence[int], k: int) -> float:
    total = sum(counts)
    return sum(sorted(counts, reverse=True)[:k]) / total if total else 0.0


@dataclass
class ObjectStats:
    counts: Counter[str]  # images holding each object (zero for unseen vocabulary categories)
    images: int  # images looked at
    images_with_objects: int
    origin: str  # "objects column" or "caption vocabulary"
    rare_threshold: int

    @property
    def seen(self) -> dict[str, int]:
        return {o: n for o, n in self.counts.items() if n > 0}

    def rare(self) -> list[tuple[str, int]]:
        """Objects below the threshold, rarest first (unseen vocabulary categories included)."""
        return sorted(((o, n) for o, n in self.counts.items() if n < self.rare_threshold),
                      key=lambda item: (item[1], item[0]))

    def object_weights(self) -> dict[str, float]:
        seen = self.seen
        total, k = sum(seen.values()), len(seen)
        return {o: total / (k * n) for o, n in seen.items()}

    def image_weights(self, objects_per_image: Iterable[Sequence[str]]) -> list[float]:
        weights = self.object_weights()
        raw = [max((weights[o] for o in objs if o in weights), default=1.0)
               for objs in objects_per_image]
        mean = sum(raw) / len(raw) if raw else 1.0
        return [w / mean for w in raw]

    def alerts(self) -> list[str]:
        seen = self.seen
        values = list(seen.values())
        out = []
        if not values:
            return ["no objects found"]
        if len(values) >= 5 and top_share(values, 5) > 0.5:
            out.append(f"the 5 most frequent objects hold {top_share(values, 5):.0%} of all "
                       "object mentions")
        if max(values) >= 10 * min(values):
            most, least = max(seen, key=seen.get), min(seen, key=seen.get)
            out.append(f"'{most}' is {max(values) / min(values):.0f}x as frequent as "
                       f"'{least}'")
        if len(values) > 1 and entropy_bits(values) / math.log2(len(values)) < 0.8:
            out.append(f"normalised entropy {entropy_bits(values) / math.log2(len(values)):.2f}"
                       " < 0.8: the object distribution is skewed")
        rare = self.rare()
        if rare:
            out.append(f"{len(rare)} objects below {self.rare_threshold} images")
        unseen = [o for o, n in self.counts.items() if n == 0]
        if unseen:
            out.append(f"{len(unseen)} vocabulary objects never appear")
        return out

    def summary(self) -> dict[str, Any]:
        values = list(self.seen.values())
        k = len(values)
        h = entropy_bits(values)
        return {
            "origin": self.origin,
            "images": self.images,
            "images_with_objects": self.images_with_objects,
            "distinct_objects": k,
            "mentions": sum(values),
            "entropy_bits": h,
            "normalized_entropy": h / math.log2(k) if k > 1 else 1.0,
            "gini": gini(values),
            "top5_share": top_share(values, 5),
            "top10_share": top_share(values, 10),
            "rare_threshold": self.rare_threshold,
            "rare_objects": [o for o, _ in self.rare()],
            "alerts": self.alerts(),
            "counts": dict(self.counts.most_common()),
        }
