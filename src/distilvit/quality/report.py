"""The dataset quality report: one streaming pass over a dataset, then the files.

`build_report(records, cfg, title)` reads records in batches (images are decoded one batch at
a time and dropped after it; only the k worst examples keep a thumbnail), and writes to
`cfg.output_dir`:

- `report.html`: self-contained (inline SVG charts, base64 thumbnails, inline CSS);
- `summary.json`: every figure of the report;
- `per_example.csv`, `object_counts.csv`, `objects_below_<T>.csv`, `reweighting.csv`.
"""

from __future__ import annotations

import csv
import json
import logging
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import Any

from tqdm import tqdm

from distilvit.quality.bias import BiasTally, lexicon_sources
from distilvit.quality.config import QualityConfig
from distilvit.quality.objects import ObjectStats
from distilvit.quality.records import Record
from distilvit.quality.scoring import BatchScorer, Scores, stats
from distilvit.quality.textstats import TextTally
from distilvit.quality.vocabulary import COCO_VOCABULARY, Vocabulary
from distilvit.quality.worst import Problems, WorstExamples

logger = logging.getLogger(__name__)

FILES = ("report.html", "summary.json", "per_example.csv", "object_counts.csv",
         "objects_below_{T}.csv", "reweighting.csv")


@dataclass
class Pass:
    """Everything the pass accumulates (no images: those live for one batch)."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    objects: list[list[str]] = field(default_factory=list)
    object_counts: Counter[str] = field(default_factory=Counter)
    from_column: int = 0
    from_vocabulary: int = 0
    without_image: int = 0
    captions_bias: BiasTally = field(default_factory=BiasTally)
    originals_bias: BiasTally = field(default_factory=BiasTally)
    text: TextTally = field(default_factory=TextTally)
    clip: list[float] = field(default_factory=list)
    ref_clip: list[float] = field(default_factory=list)
    fidelity: list[float] = field(default_factory=list)


def build_report(records: Iterable[Record], cfg: QualityConfig, title: str) -> dict[str, Any]:
    """Run the pass, write every output file, return the summary."""
    start = time.perf_counter()
    vocabulary = COCO_VOCABULARY.extended(cfg.object_vocab) if cfg.object_vocab else COCO_VOCABULARY
    scorer, worst, acc = BatchScorer(cfg), WorstExamples(cfg.worst_examples), Pass()
    total = cfg.max_samples or None
    with tqdm(total=total, desc="quality", unit="ex") as bar:
        for batch in _batches(records, cfg.batch_size):
            scores = scorer.score(batch)
            acc.clip.extend(scores.clip_captions)
            acc.ref_clip.extend(scores.ref_clip_captions)
            acc.fidelity.extend(scores.fidelity_captions)
            for i, record in enumerate(batch):
                _add(acc, record, i, scores, cfg, vocabulary, worst)
            bar.update(len(batch))
    if not acc.rows:
        from distilvit.errors import UsageError

        raise UsageError(f"{title}: no examples with captions to report on")
    objects = _object_stats(acc, cfg, vocabulary)
    summary = _summary(acc, objects, scorer, cfg, title, time.perf_counter() - start)
    examples = worst.worst_first()
    summary["worst_examples"] = [{k: v for k, v in e.items() if k != "image"} for e in examples]
    write_outputs(Path(cfg.output_dir), summary, acc, objects, examples)
    return summary


def _batches(records: Iterable[Record], size: int) -> Iterator[list[Record]]:
    iterator = iter(records)
    while batch := list(islice(iterator, max(size, 1))):
        yield batch


def _add(acc: Pass, record: Record, i: int, scores: Scores, cfg: QualityConfig,
         vocabulary: Vocabulary, worst: WorstExamples) -> None:
    if not record.captions:
        return
    acc.without_image += record.image is None
    bias_terms: dict[str, list[str]] = {}
    lengths, duplicate = [], False
    for caption in record.captions:
        for category, terms in acc.captions_bias.add(caption).items():
            bias_terms.setdefault(category, []).extend(terms)
        n_words, repeated = acc.text.add(caption)
        lengths.append(n_words)
        duplicate |= repeated
    acc.originals_bias.add_all(record.originals)
    objects = _objects_of(acc, record, vocabulary)
    problems = Problems(clip_score=scores.clip[i], fidelity=scores.fidelity[i],
                        bias_terms=bias_terms, duplicate=duplicate,
                        bad_length=any(n < cfg.min_words or n > cfg.max_words for n in lengths))
    score = problems.score()
    worst.offer(score, record, problems)
    acc.rows.append({
        "id": record.id, "source": record.source, "captions": len(record.captions),
        "caption": record.captions[0], "words": lengths[0], "clip_score": scores.clip[i],
        "ref_clip_score": scores.ref_clip[i], "fidelity": scores.fidelity[i],
        "bias_terms": "|".join(f"{c}:{t}" for c, ts in bias_terms.items() for t in ts),
        "objects": ";".join(objects), "duplicate": int(duplicate),
        "problem_score": round(score, 4)})


def _objects_of(acc: Pass, record: Record, vocabulary: Vocabulary) -> list[str]:
    if record.objects is not None:
        objects = list(dict.fromkeys(record.objects))
        acc.from_column += 1
    else:
        objects = list(dict.fromkeys(o for c in record.captions for o in vocabulary.find(c)))
        acc.from_vocabulary += 1
    acc.objects.append(objects)
    acc.object_counts.update(objects)
    return objects


def _object_stats(acc: Pass, cfg: QualityConfig, vocabulary: Vocabulary) -> ObjectStats:
    counts = Counter(acc.object_counts)
    if acc.from_vocabulary and not acc.from_column:
        origin = "caption vocabulary (COCO categories)"
        for category in vocabulary.categories:  # unseen categories are the rarest of all
            counts.setdefault(category, 0)
    elif acc.from_vocabulary:
        origin = "objects column, caption vocabulary where a row has none"
    else:
        origin = "objects column"
    return ObjectStats(counts=counts, images=len(acc.rows),
                       images_with_objects=sum(1 for o in acc.objects if o), origin=origin,
                       rare_threshold=cfg.rare_threshold)


def _summary(acc: Pass, objects: ObjectStats, scorer: BatchScorer, cfg: QualityConfig,
             title: str, seconds: float) -> dict[str, Any]:
    models = scorer.describe()
    return {
        "dataset": title, "split": cfg.split, "examples": len(acc.rows),
        "captions": acc.text.captions, "examples_without_image": acc.without_image,
        "seconds": round(seconds, 2),
        "alignment": {
            "model": models["clip_model"], "skipped": models["alignment_skipped"],
            "prefix": cfg.clip_prefix, "clip_score": stats(acc.clip),
            "ref_clip_score": stats(acc.ref_clip),
            "definition": "CLIPScore = 2.5 * max(cos, 0); RefCLIPScore = harmonic mean of "
                          "CLIPScore and the best reference cosine (Hessel et al. 2021)"},
        "fidelity": {"method": models["fidelity"], "score": stats(acc.fidelity),
                     "skipped": None if acc.fidelity else "no original captions to compare"},
        "bias": {"captions": acc.captions_bias.summary(),
                 "originals": acc.originals_bias.summary() if acc.originals_bias.captions
                 else None,
                 "sources": lexicon_sources()},
        "objects": objects.summary(),
        "text": acc.text.summary(),
        "outputs": [name.replace("{T}", str(cfg.rare_threshold)) for name in FILES],
    }


# ----- files --------------------------------------------------------------------------------
def write_outputs(out: Path, summary: dict[str, Any], acc: Pass, objects: ObjectStats,
                  worst: list[dict[str, Any]]) -> None:
    from distilvit.quality.html_report import render

    out.mkdir(parents=True, exist_ok=True)
    weights = objects.image_weights(acc.objects)
    object_weights = objects.object_weights()
    mentions = sum(objects.seen.values()) or 1
    for row, weight in zip(acc.rows, weights, strict=True):
        row["sampling_weight"] = round(weight, 6)
    _csv(out / "per_example.csv", acc.rows)
    _csv(out / "object_counts.csv", [
        {"object": o, "count": n, "share": round(n / mentions, 6),
         "weight": round(object_weights.get(o, 0.0), 6)} for o, n in objects.counts.most_common()])
    _csv(out / f"objects_below_{objects.rare_threshold}.csv",
         [{"object": o, "count": n} for o, n in objects.rare()], fields=("object", "count"))
    _csv(out / "reweighting.csv", [
        {"id": r["id"], "source": r["source"], "objects": r["objects"],
         "weight": r["sampling_weight"]} for r in acc.rows])
    charts = {"clip": acc.clip, "ref_clip": acc.ref_clip, "fidelity": acc.fidelity}
    (out / "summary.json").write_text(json.dumps(summary, indent=2, default=str) + "\n")
    (out / "report.html").write_text(render(summary, charts, worst), encoding="utf-8")
    logger.info("quality report written to %s", out / "report.html")


def _csv(path: Path, rows: list[dict[str, Any]], fields: tuple[str, ...] = ()) -> None:
    names = list(fields or (rows[0].keys() if rows else ()))
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=names)
        writer.writeheader()
        writer.writerows(rows)
