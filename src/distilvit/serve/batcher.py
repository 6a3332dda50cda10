"""Micro-batching: images that arrive together share one model call.

One worker thread owns the model (so a torch model is never entered by two threads at once).
Request threads put their images on a bounded queue and wait on futures. The worker takes the
oldest image, then gathers more with the same key (the generation options: only identical
options can share a decoding loop) until the batch is full or the oldest image has waited
`max_wait_ms`. When the worker was busy, the images that piled up meanwhile are already older
than that, so they go in at once: waiting only ever happens when the model is idle.

A full queue refuses new images immediately (`QueueFull`, answered 503 with Retry-After), so a
flood of requests never makes one hang; a request that gives up waiting cancels its images,
and the worker skips them. `close(timeout_s)` (a server stopping) fails the queued images at
once and gives the batch in progress `timeout_s` to finish before failing it too, so every
waiting request is answered (a caption or a 503) within that time.
"""

from __future__ import annotations

import concurrent.futures
import logging
import math
import threading
import time
from collections import deque
from collections.abc import Callable, Hashable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

from distilvit.serve.config import BatchConfig

logger = logging.getLogger(__name__)

# run(key, payloads) -> one result per payload, in order
Runner = Callable[[Hashable, list[Any]], list[Any]]


class QueueFull(Exception):
    """The queue cannot take the request's images now; try again after `retry_after_s`."""

    def __init__(self, retry_after_s: int):
        super().__init__(f"server busy: the caption queue is full; retry in {retry_after_s} s")
        self.retry_after_s = retry_after_s


class BatcherClosed(Exception):
    """The batcher is shutting down."""


@dataclass(frozen=True)
class Done:
    """One image's result and how it was obtained."""

    value: Any
    batch_size: int
    queue_s: float  # from submit to the start of its batch
    run_s: float  # the batch's model call


@dataclass
class BatchStats:
    batches: int = 0
    images: int = 0
    largest: int = 0
    rejected: int = 0  # images refused because the queue was full
    busy_s: float = 0.0


@dataclass
class _Item:
    key: Hashable
    payload: Any
    future: Future
    enqueued: float


class MicroBatcher:
    def __init__(self, run: Runner, config: BatchConfig, name: str = "distilvit-batcher"):
        if config.max_batch_size < 1 or config.queue_size < 1 or config.max_wait_ms < 0:
            raise ValueError(f"bad batching config {config}")
        self.config = config
        self.stats = BatchStats()
        self._run = run
        self._queue: deque[_Item] = deque()
        self._cond = threading.Condition()
        self._closed = False
        self._running: list[_Item] = []  # the batch in the model now
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)
        self._thread.start()

    # ----- request side -----------------------------------------------------------------
    def submit(self, key: Hashable, payloads: list[Any]) -> list[Future]:
        """Queue all payloads or none: raises QueueFull (or BatcherClosed) without waiting."""
        with self._cond:
            if self._closed:
                raise BatcherClosed("the server is shutting down")
            if len(self._queue) + len(payloads) > self.config.queue_size:
                self.stats.rejected += len(payloads)
                raise QueueFull(self._retry_after())
            now = time.monotonic()
            items = [_Item(key, payload, Future(), now) for payload in payloads]
            self._queue.extend(items)
            self._cond.notify_all()
        return [item.future for item in items]

    @staticmethod
    def results(futures: list[Future], timeout_s: float) -> list[Done]:
        """Wait for every future; on timeout cancel the unfinished ones and raise TimeoutError."""
        done, pending = concurrent.futures.wait(futures, timeout=timeout_s)
        if pending:
            for future in pending:
                future.cancel()
            raise TimeoutError(f"no caption within {timeout_s:g} s")
        return [future.result() for future in futures]

    @property
    def depth(self) -> int:
        return len(self._queue)

    @property
    def alive(self) -> bool:
        return self._thread.is_alive() and not self._closed

    def close(self, timeout_s: float = 10.0) -> None:
        """Stop taking work, fail what is still queued, give the running batch `timeout_s` to
        finish, then fail it too (the worker thread is a daemon: it cannot hold up exit)."""
        closing = BatcherClosed("the server is shutting down")
        with self._cond:
            self._closed = True
            pending = list(self._queue)
            self._queue.clear()
            self._cond.notify_all()
        for item in pending:
            if item.future.set_running_or_notify_cancel():
                _settle(item.future, error=closing)
        self._thread.join(timeout_s)
        with self._cond:
            running = list(self._running)
        for item in running:
            _settle(item.future, error=closing)

    def _retry_after(self) -> int:
        """Seconds until the queue has likely drained: queued batches x mean batch time."""
        mean = self.stats.busy_s / self.stats.batches if self.stats.batches else 1.0
        batches = math.ceil(len(self._queue) / self.config.max_batch_size)
        return max(1, math.ceil(batches * mean))

    # ----- worker side ------------------------------------------------------------------
    def _loop(self) -> None:
        while (batch := self._next_batch()) is not None:
            self._execute(batch)

    def _next_batch(self) -> list[_Item] | None:
        with self._cond:
            while True:
                while not self._queue and not self._closed:
                    self._cond.wait()
                if self._closed:
                    return None
                key = self._queue[0].key
                deadline = self._queue[0].enqueued + self.config.max_wait_ms / 1000
                while not self._closed and self._count(key) < self.config.max_batch_size:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        break
                    self._cond.wait(remaining)
                batch = self._take(key)
                if batch:  # else every image of that key was cancelled: look again
                    return batch

    def _count(self, key: Hashable) -> int:
        return sum(1 for item in self._queue if item.key == key)

    def _take(self, key: Hashable) -> list[_Item]:
        """Up to max_batch_size live items with `key`, oldest first; cancelled ones dropped."""
        batch, kept = [], deque()
        for item in self._queue:
            if item.key != key or len(batch) == self.config.max_batch_size:
                kept.append(item)
            elif item.future.set_running_or_notify_cancel():
                batch.append(item)
        self._queue = kept
        return batch

    def _execute(self, batch: list[_Item]) -> None:
        start = time.monotonic()
        with self._cond:
            self._running = batch
        try:
            values = self._run(batch[0].key, [item.payload for item in batch])
            if len(values) != len(batch):
                raise RuntimeError(f"model returned {len(values)} results for {len(batch)} "
                                   "inputs")
        except Exception as exc:  # the requests get it (500); the worker lives on
            logger.exception("a batch of %d failed", len(batch))
            for item in batch:
                _settle(item.future, error=exc)
            return
        finally:
            with self._cond:
                self._running = []
        run_s = time.monotonic() - start
        with self._cond:
            self.stats.batches += 1
            self.stats.images += len(batch)
            self.stats.largest = max(self.stats.largest, len(batch))
            self.stats.busy_s += run_s
        for item, value in zip(batch, values, strict=True):
            _settle(item.future, Done(value, len(batch), start - item.enqueued, run_s))


def _settle(future: Future, value: Any = None, error: BaseException | None = None) -> None:
    """Set a running future's outcome unless `close` already failed it (then keep that)."""
    try:
        if error is None:
            future.set_result(value)
        else:
            future.set_exception(error)
    except concurrent.futures.InvalidStateError:
        pass
