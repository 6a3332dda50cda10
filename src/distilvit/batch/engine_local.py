"""The one-machine engine: a thread pool decodes ahead while the model captions a batch.

Items stream through a bounded window of decode futures (`batch_size + lookahead`), so memory
does not depend on the number of inputs; batches are captioned and written in input order.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from distilvit.batch.decode import Prepare, decode_error
from distilvit.batch.inputs import Item
from distilvit.batch.outputs import Record, record
from distilvit.config import GenerationConfig
from distilvit.errors import ImageError

logger = logging.getLogger(__name__)


def caption_batches(model: Any, items: Iterable[Item], prepare: Prepare,
                    generation: GenerationConfig, *, batch_size: int,
                    workers: int) -> Iterator[list[Record]]:
    """One list of records per batch of `items`, in order; bad images become error records."""
    lookahead = max(batch_size, 2 * workers)
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="decode") as pool:
        window: deque[tuple[Item, Future]] = deque()
        for item in items:
            window.append((item, pool.submit(prepare, item)))
            if len(window) >= batch_size + lookahead:
                yield caption_one_batch(model, _take(window, batch_size), generation)
        while window:
            yield caption_one_batch(model, _take(window, batch_size), generation)


def _take(window: deque, size: int) -> list[tuple[Item, Future]]:
    return [window.popleft() for _ in range(min(size, len(window)))]


def caption_one_batch(model: Any, batch: list[tuple[Item, Any]],
                      generation: GenerationConfig) -> list[Record]:
    """Records for (item, future-or-callable giving its image) pairs, in order."""
    results: list[Record | None] = [None] * len(batch)
    good: list[int] = []
    images = []
    for index, (item, pending) in enumerate(batch):
        try:
            images.append(pending.result() if isinstance(pending, Future) else pending())
            good.append(index)
        except ImageError as exc:
            results[index] = record(item, error=decode_error(item, exc))
    if images:
        captions = model.caption(images, generation)
        for index, caption in zip(good, captions, strict=True):
            results[index] = record(batch[index][0], caption=caption)
    return [rec for rec in results if rec is not None]


def prepared(prepare: Prepare, item: Item) -> Callable[[], Any]:
    """A deferred `prepare(item)` for callers without a pool (the Ray actors)."""
    return lambda: prepare(item)
