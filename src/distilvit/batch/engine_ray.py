"""`--engine ray`: Ray Data actors caption, the driver writes (needs the `[scale]` extra).

The driver lists inputs and drops those already in the output exactly as the local engine does,
then hands the rest to Ray `ray_chunk` at a time (a Dataset built `from_items`, so the driver
never holds more than one chunk). `map_batches` runs a fixed pool of `CaptionActor`s, each of
which opens the model once and decodes its batch with a few threads. The driver streams the
result blocks back and appends them to the same Parquet output as the local engine (journal +
atomic part files): resuming is the local engine's resuming, and a run may be resumed by
either engine. Open-source Ray Data has no job checkpointing; this is the checkpoint.

Cluster: `ray.init()` joins `RAY_ADDRESS` when it is set, else starts a local Ray. Paths are
made absolute; on several nodes the model folder and the images must be on a filesystem every
node sees at the same path (dataset rows travel as PNG bytes instead).
"""

from __future__ import annotations

import argparse
import io
import logging
import math
import os
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from itertools import islice
from typing import Any

from distilvit.batch.config import BatchConfig
from distilvit.batch.inputs import Item
from distilvit.batch.outputs import Record
from distilvit.config import BackendConfig, InferenceConfig
from distilvit.errors import UsageError

logger = logging.getLogger(__name__)
DECODE_THREADS = 2  # per actor: decoding overlaps the model inside the actor too


@dataclass
class ActorSpec:
    """What each actor needs to open the model and caption like the local engine."""

    model_dir: str
    backend: BackendConfig = field(default_factory=BackendConfig)
    inference: InferenceConfig = field(default_factory=InferenceConfig)
    generation_flags: dict[str, Any] = field(default_factory=dict)
    draft: bool = True
    threads: int = 0  # compute threads per actor (0 = the runtime's default)


class CaptionActor:
    """One per Ray actor: the model is opened once, then called once per batch."""

    def __init__(self, spec: ActorSpec):
        from distilvit.batch.decode import Prepare, model_preprocessor
        from distilvit.caption_model import open_model
        from distilvit.cli_args import apply_args

        self.model = open_model(spec.model_dir, spec.backend, spec.inference, spec.threads)
        flags = argparse.Namespace(**spec.generation_flags)
        self.generation = apply_args(self.model.generation, flags, "generation")
        self.prepare = Prepare(model_preprocessor(self.model), spec.draft)
        self.pool = ThreadPoolExecutor(DECODE_THREADS, thread_name_prefix="decode")

    def __call__(self, batch: Any) -> Any:
        import pyarrow as pa

        from distilvit.batch.engine_local import caption_one_batch
        from distilvit.batch.outputs import parquet_schema

        rows = batch.to_pylist()
        items = [Item(key=row["key"], id=row["id"], image=row["image"], payload=row["data"])
                 for row in rows]
        # Read from the absolute path (an actor's working folder is not the driver's).
        located = [Item(key=row["key"], id=row["id"], image=row["path"], payload=row["data"])
                   for row in rows]
        pending = [(item, self.pool.submit(self.prepare, where))
                   for item, where in zip(items, located, strict=True)]
        records = caption_one_batch(self.model, pending, self.generation)
        for rec, row in zip(records, rows, strict=True):
            if rec["error"] is not None and row["path"] is not None:  # name it as the user did
                rec["error"] = rec["error"].replace(row["path"], row["image"])
        return pa.Table.from_pylist(records, schema=parquet_schema())


def caption_batches_ray(spec: ActorSpec, items: Iterable[Item],
                        cfg: BatchConfig) -> Iterator[list[Record]]:
    """Records of every item, in blocks as Ray finishes them (not in input order)."""
    ray = _ray()
    init_ray(ray)
    # Each actor computes with the CPUs Ray reserved for it: with ONNX Runtime's default
    # (a thread per core) `concurrency` actors would share the cores `concurrency` times over.
    spec = ActorSpec(os.path.abspath(spec.model_dir), spec.backend, spec.inference,
                     spec.generation_flags, spec.draft, threads=max(1, math.ceil(cfg.ray_num_cpus)))
    batch_size = cfg.ray_batch_size or spec.inference.batch_size
    iterator = iter(items)
    while chunk := list(islice(iterator, cfg.ray_chunk)):
        rows = [_row(item) for item in chunk]
        blocks = min(len(rows), max(1, math.ceil(len(rows) / batch_size)), 10_000)
        dataset = ray.data.from_items(rows, override_num_blocks=blocks)
        captioned = dataset.map_batches(
            CaptionActor, fn_constructor_args=(spec,), batch_size=batch_size,
            batch_format="pyarrow", concurrency=cfg.ray_concurrency,
            num_cpus=cfg.ray_num_cpus, num_gpus=cfg.ray_num_gpus)
        for block in captioned.iter_batches(batch_size=None, batch_format="pyarrow"):
            yield block.to_pylist()


def _row(item: Item) -> dict[str, Any]:
    """A Ray row: the file's absolute path to read, or a dataset row's image as PNG bytes; the
    record keeps `image` as the user gave it."""
    data = None
    if item.image is None:
        buffer = io.BytesIO()
        item.payload.save(buffer, format="PNG")
        data = buffer.getvalue()
    return {"key": item.key, "id": item.id, "image": item.image, "data": data,
            "path": os.path.abspath(item.image) if item.image is not None else None}


def _ray():
    try:
        import ray
        import ray.data  # noqa: F401
    except ImportError:
        raise UsageError("--engine ray needs Ray Data: pip install 'distilvit[scale]'") from None
    return ray


def init_ray(ray: Any) -> None:
    """Join RAY_ADDRESS's cluster, or start a quiet local Ray; reuse one already started."""
    if not ray.is_initialized():
        address = os.environ.get("RAY_ADDRESS") or None
        ray.init(address=address, include_dashboard=False, log_to_driver=False,
                 logging_level=logging.WARNING)
        logger.info("ray: %s", "joined " + address if address else "started a local Ray")
    context = ray.data.DataContext.get_current()
    context.enable_progress_bars = False  # the command's own bar counts images
    context.verbose_stats_logs = False
