"""Generate captions for a split and score them (caption metrics, shapes attributes)."""

from __future__ import annotations

from typing import Any

import torch
from tqdm import tqdm

from distilvit.config import GenerationConfig
from distilvit.data.features import CaptionData
from distilvit.generate import decode, generate_ids


def generate_for(model, data: CaptionData, gen: GenerationConfig, batch_size: int = 64,
                 blind: bool = False, rows: list[int] | None = None,
                 progress: bool = True) -> list[str]:
    rows = list(range(len(data))) if rows is None else rows
    captions: list[str] = []
    chunks = [rows[i:i + batch_size] for i in range(0, len(rows), batch_size)]
    for chunk in tqdm(chunks, desc="captioning", unit="batch", disable=not progress,
                      leave=False):
        inputs = {k: v.to(model.device) for k, v in data.model_inputs(model, chunk).items()}
        with torch.inference_mode():
            ids = generate_ids(model, inputs.get("pixel_values"), gen, blind=blind,
                               image_features=inputs.get("image_features"))
        captions += decode(model, ids)
    return captions


def score(predictions: list[str], data: CaptionData, rows: list[int]) -> dict[str, Any]:
    """BLEU/METEOR/ROUGE-L/CIDEr, length, gendered rate, and shapes attributes if known."""
    from distilvit.eval.metrics import caption_metrics, gendered_rate

    preds = {data.ids[r]: p for r, p in zip(rows, predictions, strict=True)}
    refs = {data.ids[r]: data.captions[r] for r in rows}
    metrics = dict(caption_metrics(preds, refs))
    metrics["gendered_rate"] = gendered_rate(predictions)
    scenes = [data.extra[r].get("objects") for r in rows]
    if scenes and all(s is not None for s in scenes):
        from distilvit.eval.attributes import attribute_scores

        metrics.update(attribute_scores(predictions, scenes))
    return metrics


def evaluate(model, data: CaptionData, gen: GenerationConfig, batch_size: int = 64,
             blind: bool = False, limit: int = 0) -> tuple[dict[str, Any], list[str]]:
    rows = list(range(min(len(data), limit) if limit else len(data)))
    predictions = generate_for(model, data, gen, batch_size, blind, rows)
    return score(predictions, data, rows), predictions
