"""Merge caption sources into one leak-free `DatasetDict` (train/validation/test) for the Hub.

Sources are streamed one example at a time and written straight into per-split Arrow files,
so merging `all` never holds a source in memory or needs the sources on disk at once.

Leak-freedom across sources: an image's identity is a hash of its decoded pixels (size + RGB
bytes), so the same picture served by two sources, or twice by one, is one image. Its split is
`seeded_split(content hash, seed)` by default: a function of the pixels alone, identical on
every machine and in any source order, so a duplicate could never land in two splits; the
first copy met is kept and later copies are dropped and counted. `split_by="source"` keeps each
source's own split instead; dropping later copies still keeps every image in one split only.
Only exact pixel duplicates are found: a re-encoded or resized copy hashes differently.

Columns: `image`, `alt_text` (list of strings), `source`, `source_id`, `original_alt_text`
(list; empty when the source has none), `objects` (list; empty when the source has none).
"""

from __future__ import annotations

import hashlib
import io
import logging
import shutil
import tempfile
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PIL import Image

from distilvit.config import MergeConfig
from distilvit.data.schema import SPLITS, Example
from distilvit.data.splits import seeded_split
from distilvit.errors import UsageError

logger = logging.getLogger(__name__)


@dataclass
class MergeStats:
    rows: Counter[str] = field(default_factory=Counter)  # split -> rows
    per_source: Counter[tuple[str, str]] = field(default_factory=Counter)  # (source, split)
    duplicates: Counter[str] = field(default_factory=Counter)  # source of the dropped copy

    def report(self) -> dict[str, Any]:
        return {"rows": dict(self.rows), "duplicates_dropped": dict(self.duplicates),
                "per_source": {f"{s}/{sp}": n for (s, sp), n in sorted(self.per_source.items())}}


def content_hash(image: Image.Image) -> str:
    """Identity of an image's pixels (RGB), independent of file format and metadata."""
    rgb = image if image.mode == "RGB" else image.convert("RGB")
    digest = hashlib.sha256(f"{rgb.width}x{rgb.height}:".encode())
    digest.update(rgb.tobytes())
    return digest.hexdigest()


def parse_paths(entries: tuple[str, ...], names: list[str]) -> dict[str, str]:
    paths = {}
    for entry in entries:
        name, sep, path = entry.partition("=")
        if not sep or not name or not path:
            raise UsageError(f"--dataset-path {entry!r}: expected NAME=PATH")
        if name not in names:
            raise UsageError(f"--dataset-path {entry!r}: {name!r} is not among the merged "
                             f"datasets ({', '.join(names)})")
        paths[name] = path
    return paths


def expand(names: tuple[str, ...]) -> list[str]:
    """Source names, 'all' replaced by every hub source, each once, order kept."""
    from distilvit.data.registry import HUB_SOURCES, source_names

    out: list[str] = []
    for name in names:
        if name not in source_names():
            raise UsageError(f"unknown dataset {name!r}; choose among {', '.join(source_names())}")
        for one in (HUB_SOURCES if name == "all" else [name]):
            if one not in out:
                out.append(one)
    if not out:
        raise UsageError("--datasets: name at least one source")
    return out


def plan(cfg: MergeConfig) -> tuple[list[str], dict[str, str]]:
    """The sources and their local paths, checked before anything is read."""
    if cfg.sample < 0:
        raise UsageError(f"--sample must be 0 (all) or a positive number, got {cfg.sample}")
    names = expand(cfg.datasets)
    paths = parse_paths(cfg.dataset_path, names)
    if "folder" in names and "folder" not in paths:
        raise UsageError("the 'folder' source needs a path: pass --dataset-path folder=DIR")
    for name, path in paths.items():
        if not Path(path).exists():
            raise UsageError(f"--dataset-path {name}={path}: no such file or folder")
    return names, paths


def examples(cfg: MergeConfig, names: list[str], paths: dict[str, str]) -> Iterator[Example]:
    """Every example of every source, split by split, each source capped at `sample`."""
    from distilvit.data.registry import load_examples

    for name in names:
        for split, cap in split_caps(cfg.sample).items():
            yield from load_examples(name, split, sample=cap, path=paths.get(name),
                                     seed=cfg.seed)


def split_caps(sample: int) -> dict[str, int | None]:
    """`sample` images of a source spread over its splits like the default 90/5/5 fractions
    (at least one each), so a sample still has validation and test images with
    `split_by="source"`; None everywhere when there is no cap."""
    if not sample:
        return dict.fromkeys(SPLITS)
    held_out = max(1, round(sample * 0.05)) if sample >= 3 else 0
    caps = {"train": sample - 2 * held_out, "validation": held_out, "test": held_out}
    return {split: cap for split, cap in caps.items() if cap > 0}


def row_of(example: Example, image_format: str) -> dict[str, Any]:
    from distilvit.data.sources.common import captions_from
    from distilvit.words.objects import object_names

    extra = example.extra
    return {
        "image": {"bytes": encode(example.image, image_format), "path": None},
        "alt_text": list(example.captions), "source": example.source,
        "source_id": example.id,
        "original_alt_text": captions_from(extra.get("original_captions"),
                                           extra.get("original_alt_text")),
        "objects": object_names(extra.get("objects")) or [],
    }


def encode(image: Image.Image, image_format: str) -> bytes:
    jpeg = image_format == "jpeg" or (image_format == "auto" and image.format == "JPEG")
    buffer = io.BytesIO()
    if jpeg:
        image.convert("RGB").save(buffer, "JPEG", quality=95)
    else:
        image.save(buffer, "PNG")
    return buffer.getvalue()


def features():
    import datasets

    strings = datasets.List(datasets.Value("string"))
    return datasets.Features({"image": datasets.Image(), "alt_text": strings,
                              "source": datasets.Value("string"),
                              "source_id": datasets.Value("string"),
                              "original_alt_text": strings, "objects": strings})


def merge(cfg: MergeConfig) -> tuple[Any, MergeStats]:
    """Stream, de-duplicate, split, and `save_to_disk(cfg.save_path)`; return (DatasetDict,
    stats)."""
    import datasets
    from datasets.arrow_writer import ArrowWriter
    from tqdm import tqdm

    names, paths = plan(cfg)
    out = Path(cfg.save_path)
    stats, seen, schema = MergeStats(), set(), features()
    staging = Path(tempfile.mkdtemp(prefix=".merge-", dir=out.parent if out.parent.exists()
                                    else None))
    try:
        writers = {s: ArrowWriter(features=schema, path=str(staging / f"{s}.arrow"))
                   for s in SPLITS}
        for example in tqdm(examples(cfg, names, paths), desc="merge", unit="img"):
            key = content_hash(example.image)
            if key in seen:
                stats.duplicates[example.source] += 1
                continue
            seen.add(key)
            split = seeded_split(key, cfg.seed) if cfg.split_by == "content" else example.split
            writers[split].write(schema.encode_example(row_of(example, cfg.image_format)))
            stats.rows[split] += 1
            stats.per_source[(example.source, split)] += 1
        for writer in writers.values():
            writer.finalize()
        merged = datasets.DatasetDict({
            s: datasets.Dataset.from_file(str(staging / f"{s}.arrow")) if stats.rows[s]
            else datasets.Dataset.from_dict({k: [] for k in schema}, features=schema)
            for s in SPLITS})
        # One shard per empty split: datasets writes none otherwise and cannot reload it.
        merged.save_to_disk(str(out), num_shards={s: 1 for s in SPLITS if not stats.rows[s]})
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    logger.info("merged %d images into %s (%d duplicates dropped)", sum(stats.rows.values()),
                out, sum(stats.duplicates.values()))
    return datasets.load_from_disk(str(out)), stats


def push(save_path: str, repo: str, private: bool) -> str:
    """Upload a merged folder as a Hub dataset; one line on any failure."""
    import datasets

    from distilvit.errors import DistilvitError

    data = datasets.load_from_disk(save_path)
    try:
        info = data.push_to_hub(repo, private=private)
    except Exception as exc:  # network, auth, quota: one line, as `distilvit push` does
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DistilvitError(f"push of {save_path} to {repo} failed: {first[:200]}") from None
    return str(getattr(info, "commit_url", "") or f"https://huggingface.co/datasets/{repo}")
