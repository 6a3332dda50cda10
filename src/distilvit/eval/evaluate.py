"""Caption a split and score it (caption metrics, shapes attributes), with any runtime.

`evaluate_model` is what `distilvit eval` and the end of `distilvit train` run: the model is a
`CaptionModel` (a torch checkpoint or an ONNX export, e.g. to score a quantized variant), so
the captions come from `model.caption`, exactly what users get. Only the blind baseline (image
prefix zeroed) and the training loop's cached features go through torch (`generate_for`).
"""

from __future__ import annotations

from typing import Any

import torch
from tqdm import tqdm

from distilvit.caption_model import CaptionModel
from distilvit.config import EvalConfig, GenerationConfig
from distilvit.data.features import CaptionData, DataSpec, read_split
from distilvit.errors import UsageError
from distilvit.generate import decode, generate_ids
from distilvit.model.captioner import Captioner

SHOWN = ("attribute_accuracy", "strict_accuracy", "bleu4", "meteor", "rougeL", "cider",
         "mean_length", "gendered_rate", "n_images")


def _chunks(rows: list[int], size: int, progress: bool) -> Any:
    chunks = [rows[i:i + size] for i in range(0, len(rows), size)]
    return tqdm(chunks, desc="captioning", unit="batch", disable=not progress, leave=False)


def caption_rows(model: CaptionModel, data: CaptionData, gen: GenerationConfig,
                 batch_size: int = 64, rows: list[int] | None = None,
                 progress: bool = True) -> list[str]:
    """Captions of the split's images through `model.caption` (any runtime)."""
    rows = list(range(len(data))) if rows is None else rows
    if data.images is None:
        raise ValueError("caption_rows needs the split's images (not cached features)")
    return [caption for chunk in _chunks(rows, batch_size, progress)
            for caption in model.caption([data.images[r] for r in chunk], gen)]


def generate_for(model: Captioner, data: CaptionData, gen: GenerationConfig,
                 batch_size: int = 64, blind: bool = False, rows: list[int] | None = None,
                 progress: bool = True) -> list[str]:
    """Captions with the torch model, from images or cached features; `blind` zeroes the prefix."""
    rows = list(range(len(data))) if rows is None else rows
    captions: list[str] = []
    for chunk in _chunks(rows, batch_size, progress):
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


def evaluate(model: CaptionModel, data: CaptionData, gen: GenerationConfig,
             batch_size: int = 64, blind: bool = False,
             limit: int = 0) -> tuple[dict[str, Any], list[str]]:
    """Metrics and captions for the first `limit` rows (0: all)."""
    rows = list(range(min(len(data), limit) if limit else len(data)))
    if blind:
        if not isinstance(model, Captioner):
            raise UsageError(BLIND_NEEDS_TORCH)
        predictions = generate_for(model, data, gen, batch_size, blind=True, rows=rows)
    else:
        predictions = caption_rows(model, data, gen, batch_size, rows)
    return score(predictions, data, rows), predictions


BLIND_NEEDS_TORCH = ("--blind zeroes the image prefix inside the torch model; evaluate the "
                     "checkpoint with --backend torch")


def evaluate_model(model: CaptionModel, cfg: EvalConfig
                   ) -> tuple[dict[str, Any], list[str], CaptionData]:
    """Score `model` (its own generation settings) on the split `cfg` names."""
    data_cfg = cfg.data
    spec = DataSpec(datasets=tuple(data_cfg.dataset), split=cfg.split, sample=data_cfg.sample,
                    seed=data_cfg.seed, path=data_cfg.dataset_path)
    data = read_split(spec)
    metrics, predictions = evaluate(model, data, model.generation, cfg.inference.batch_size,
                                    blind=cfg.blind)
    return metrics, predictions, data


def print_report(metrics: dict[str, Any], predictions: list[str], data: CaptionData,
                 title: str, samples: int = 5) -> None:
    """The headline metrics and a few captions beside their first reference."""
    print(title)
    for key in SHOWN:
        if metrics.get(key) is not None:
            value = metrics[key]
            print(f"  {key:<20}{value:.4f}" if isinstance(value, float) else
                  f"  {key:<20}{value}")
    for i in range(min(samples, len(predictions))):
        print(f"  [{data.ids[i]}] {predictions[i]!r}  (reference: {data.captions[i][0]!r})")
