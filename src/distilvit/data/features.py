"""Splits ready for training, with the frozen-feature cache.

When the vision tower is frozen its output for an image never changes, so each image is
encoded once and the patch features are stored (fp16, memory-mapped) under a key made of the
encoder's identity (name, config, image processor), the precision and the data spec. Later
epochs and later runs read features and never run the encoder or decode an image again.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
from PIL import Image
from tqdm import tqdm

from distilvit.data.schema import Example

logger = logging.getLogger(__name__)
ENCODE_BATCH = 64


class FeatureEncoder(Protocol):
    """What loading a split needs from the model (`distilvit.model.Captioner` has it)."""

    @property
    def features_frozen(self) -> bool:
        """True when the tower never changes, so its features can be cached."""
        ...

    def feature_identity(self, precision: str) -> str:
        """Text that changes whenever the cached features would (the cache key's part)."""
        ...

    def encode_images(self, images: list[Image.Image], precision: str = "fp32") -> np.ndarray:
        """Patch features [B, P, D] (float32)."""
        ...

    def preprocess(self, images: list[Any]) -> torch.Tensor:
        """pixel_values [B, 3, H, W] for the tower."""
        ...


@dataclass(frozen=True)
class DataSpec:
    """Which examples: enough to name them in a cache key without reading them."""

    datasets: tuple[str, ...]
    split: str
    sample: int = 0
    seed: int = 0
    path: str = ""

    def examples(self) -> Iterator[Example]:
        from distilvit.data.registry import load_examples

        for name in self.datasets:
            yield from load_examples(name, self.split, sample=self.sample or None,
                                     path=self.path or None, seed=self.seed)


@dataclass
class CaptionData:
    """One split, one row per image: captions, ground truth, and features or images."""

    ids: list[str]
    captions: list[list[str]]
    extra: list[dict[str, Any]]
    features: np.ndarray | None = None  # [N, P, D] float16 (memory-mapped) when cached
    images: list[Image.Image] | None = field(default=None, repr=False)

    def __len__(self) -> int:
        return len(self.ids)

    def model_inputs(self, model: FeatureEncoder, rows: list[int]) -> dict[str, torch.Tensor]:
        """`image_features` from the cache, else `pixel_values` through the processor."""
        if self.features is not None:
            return {"image_features": torch.from_numpy(np.asarray(self.features[rows]))}
        return {"pixel_values": model.preprocess([self.images[i] for i in rows])}


def cache_key(model: FeatureEncoder, spec: DataSpec, precision: str) -> str:
    text = model.feature_identity(precision) + "\n" + repr(spec)
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def read_split(spec: DataSpec) -> CaptionData:
    """The split's images and captions in memory (no model needed)."""
    return _in_memory(spec.examples())


def load_split(model: FeatureEncoder, spec: DataSpec, cache_dir: str | Path | None,
               precision: str = "fp32") -> CaptionData:
    """Read a split; with `cache_dir` (frozen tower only), features come from the cache."""
    if cache_dir is None or not model.features_frozen:
        return read_split(spec)
    folder = Path(cache_dir) / cache_key(model, spec, precision)
    if (folder / "meta.json").is_file():
        logger.info("feature cache hit: %s", folder)
        return _read_cache(folder)
    logger.info("encoding %s/%s once into %s", "+".join(spec.datasets), spec.split, folder)
    return _write_cache(model, spec.examples(), folder, precision)


def _in_memory(examples: Iterable[Example]) -> CaptionData:
    data = CaptionData([], [], [], images=[])
    for ex in examples:
        data.ids.append(ex.id)
        data.captions.append(ex.captions)
        data.extra.append(ex.extra)
        data.images.append(ex.image)
    return data


def _read_cache(folder: Path) -> CaptionData:
    meta = json.loads((folder / "meta.json").read_text())
    shape = tuple(meta["shape"])
    features = np.memmap(folder / "features.f16", dtype=np.float16, mode="r", shape=shape)
    return CaptionData(meta["ids"], meta["captions"], meta["extra"], features=features)


def _write_cache(model: FeatureEncoder, examples: Iterable[Example], folder: Path, precision: str
                 ) -> CaptionData:
    folder.mkdir(parents=True, exist_ok=True)
    raw = folder / "features.f16"
    ids, captions, extra, shape = [], [], [], None
    with open(raw, "wb") as sink:
        for batch in _batches(tqdm(examples, desc="encoding images", unit="img")):
            feats = model.encode_images([ex.image for ex in batch], precision)
            sink.write(feats.astype(np.float16).tobytes())
            shape = feats.shape[1:]
            ids += [ex.id for ex in batch]
            captions += [ex.captions for ex in batch]
            extra += [ex.extra for ex in batch]
    if shape is None:
        raise ValueError("no examples to encode (empty split?)")
    meta = {"shape": [len(ids), *shape], "ids": ids, "captions": captions, "extra": extra}
    tmp = folder / "meta.json.tmp"
    tmp.write_text(json.dumps(meta))
    os.replace(tmp, folder / "meta.json")  # written last: a killed run leaves no half cache
    return _read_cache(folder)


def _batches(items: Iterable[Example], size: int = ENCODE_BATCH) -> Iterator[list[Example]]:
    batch: list[Example] = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch
