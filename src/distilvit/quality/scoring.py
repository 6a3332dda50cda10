"""Per-batch model scores for the report: CLIPScore/RefCLIPScore and caption fidelity.

Both models load lazily, on the first batch that needs them: a text-only file never loads
CLIP, a dataset without original captions never loads the fidelity model.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from distilvit.quality.alignment import AlignmentUnavailable, ClipScorer, clip_score, ref_clip_score
from distilvit.quality.config import QualityConfig
from distilvit.quality.fidelity import Fidelity, build_fidelity
from distilvit.quality.records import Record

logger = logging.getLogger(__name__)


@dataclass
class Scores:
    """One batch: per-example means (None where not measurable) and per-caption values."""

    clip: list[float | None]
    ref_clip: list[float | None]
    fidelity: list[float | None]
    clip_captions: list[float] = field(default_factory=list)
    ref_clip_captions: list[float] = field(default_factory=list)
    fidelity_captions: list[float] = field(default_factory=list)


class BatchScorer:
    def __init__(self, cfg: QualityConfig):
        self.cfg = cfg
        self._clip: ClipScorer | None = None
        self._fidelity: Fidelity | None = None
        self.alignment_skipped = "disabled (--clip-model none)" if _off(cfg.clip_model) else ""

    # ----- model access ---------------------------------------------------------------------
    def clip_model(self) -> ClipScorer | None:
        if self._clip is None and not self.alignment_skipped:
            try:
                self._clip = ClipScorer(self.cfg.clip_model, self.cfg.clip_prefix,
                                        self.cfg.device)
            except AlignmentUnavailable as exc:
                logger.warning("image-text alignment skipped: %s", exc)
                self.alignment_skipped = str(exc)
        return self._clip

    def fidelity_model(self) -> Fidelity:
        if self._fidelity is None:
            self._fidelity = build_fidelity(self.cfg)
        return self._fidelity

    def describe(self) -> dict[str, Any]:
        return {"clip_model": self.cfg.clip_model if self._clip else None,
                "alignment_skipped": self.alignment_skipped or None,
                "fidelity": self._fidelity.description if self._fidelity else None}

    # ----- scoring --------------------------------------------------------------------------
    def score(self, records: Sequence[Record]) -> Scores:
        n = len(records)
        scores = Scores(clip=[None] * n, ref_clip=[None] * n, fidelity=[None] * n)
        with_images = [i for i, r in enumerate(records) if r.image is not None and r.captions]
        if with_images and self.clip_model() is not None:
            self._align(records, with_images, scores)
        with_originals = [i for i, r in enumerate(records) if r.originals and r.captions]
        if with_originals:
            self._fidelity_of(records, with_originals, scores)
        return scores

    def _align(self, records: Sequence[Record], rows: list[int], scores: Scores) -> None:
        model = self._clip
        images = model.embed_images([records[i].image for i in rows])
        texts = [(i, kind, t) for i in rows for kind, group in
                 (("c", records[i].captions), ("o", records[i].originals)) for t in group]
        vectors = model.embed_texts([t for _, _, t in texts])
        for k, i in enumerate(rows):
            mine = [j for j, (row, _, _) in enumerate(texts) if row == i]
            caps = [j for j in mine if texts[j][1] == "c"]
            cos = vectors[caps] @ images[k]
            clip_s = clip_score(cos)
            scores.clip[i] = float(clip_s.mean())
            scores.clip_captions.extend(float(v) for v in clip_s)
            refs = [_best_reference(vectors, c, [j for j in mine if j != c]) for c in caps]
            measured = [(s, r) for s, r in zip(clip_s, refs, strict=True) if r is not None]
            if measured:
                ref = ref_clip_score(np.array([s for s, _ in measured]),
                                     np.array([r for _, r in measured]))
                scores.ref_clip[i] = float(ref.mean())
                scores.ref_clip_captions.extend(float(v) for v in ref)

    def _fidelity_of(self, records: Sequence[Record], rows: list[int], scores: Scores) -> None:
        pairs = [(i, caption) for i in rows for caption in records[i].captions]
        values = self.fidelity_model().score([c for _, c in pairs],
                                             [records[i].originals for i, _ in pairs])
        for i in rows:
            mine = [v for (row, _), v in zip(pairs, values, strict=True) if row == i]
            scores.fidelity[i] = float(np.mean(mine))
        scores.fidelity_captions.extend(values)


def _best_reference(vectors: np.ndarray, caption: int, others: list[int]) -> float | None:
    """Highest cosine between a caption and the image's other texts (None if it has none)."""
    return float(np.max(vectors[others] @ vectors[caption])) if others else None


def _off(name: str) -> bool:
    return name.strip().lower() in ("", "none", "off")


def stats(values: Sequence[float]) -> dict[str, float] | None:
    if not values:
        return None
    array = np.asarray(values, dtype=np.float64)
    return {"mean": float(array.mean()), "std": float(array.std()),
            "median": float(np.median(array)), "p10": float(np.percentile(array, 10)),
            "p90": float(np.percentile(array, 90)), "min": float(array.min()),
            "max": float(array.max()), "n": int(array.size)}
