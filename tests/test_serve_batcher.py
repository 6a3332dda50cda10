"""The micro-batcher on its own, with a plain function as the model (no server, no model)."""

from __future__ import annotations

import threading
import time

import pytest

from distilvit.serve.batcher import BatcherClosed, MicroBatcher, QueueFull
from distilvit.serve.config import BatchConfig


class Recorder:
    """A 'model' that squares numbers and records every batch it was given."""

    def __init__(self, delay_s: float = 0.0, gate: threading.Event | None = None):
        self.batches: list[tuple[object, list[int]]] = []
        self.delay_s = delay_s
        self.gate = gate

    def __call__(self, key, payloads):
        if self.gate is not None:
            self.gate.wait(10)
        time.sleep(self.delay_s)
        self.batches.append((key, list(payloads)))
        return [p * p for p in payloads]


def test_results_come_back_in_order_with_batch_facts():
    model = Recorder()
    batcher = MicroBatcher(model, BatchConfig(max_batch_size=8, max_wait_ms=50, queue_size=16))
    try:
        done = batcher.results(batcher.submit("k", [1, 2, 3]), timeout_s=10)
    finally:
        batcher.close()
    assert [d.value for d in done] == [1, 4, 9]
    assert model.batches == [("k", [1, 2, 3])] and {d.batch_size for d in done} == {3}
    assert all(d.queue_s >= 0 and d.run_s >= 0 for d in done)


def test_waiting_requests_share_a_batch_up_to_the_maximum():
    gate = threading.Event()
    model = Recorder(gate=gate)
    batcher = MicroBatcher(model, BatchConfig(max_batch_size=4, max_wait_ms=0, queue_size=32))
    try:
        first = batcher.submit("k", [0])  # the worker takes it and blocks on the gate
        time.sleep(0.1)
        rest = [batcher.submit("k", [i]) for i in range(1, 10)]  # pile up meanwhile
        gate.set()
        values = [d.value for f in [first, *rest] for d in batcher.results(f, 10)]
    finally:
        batcher.close()
    assert values == [i * i for i in range(10)]
    assert [len(b) for _, b in model.batches] == [1, 4, 4, 1]
    assert batcher.stats.largest == 4 and batcher.stats.images == 10


def test_different_options_never_share_a_batch():
    gate = threading.Event()
    model = Recorder(gate=gate)
    batcher = MicroBatcher(model, BatchConfig(max_batch_size=8, max_wait_ms=0, queue_size=32))
    try:
        blocker = batcher.submit("a", [0])
        time.sleep(0.1)
        futures = [batcher.submit(key, [i]) for i, key in enumerate("ababab", start=1)]
        gate.set()
        for f in [blocker, *futures]:
            batcher.results(f, 10)
    finally:
        batcher.close()
    assert model.batches == [("a", [0]), ("a", [1, 3, 5]), ("b", [2, 4, 6])]


def test_an_idle_worker_waits_at_most_max_wait():
    model = Recorder()
    batcher = MicroBatcher(model, BatchConfig(max_batch_size=64, max_wait_ms=100, queue_size=64))
    try:
        start = time.monotonic()
        batcher.results(batcher.submit("k", [1]), 10)
        waited = time.monotonic() - start
        threads = [threading.Thread(target=lambda i=i: batcher.results(batcher.submit("k", [i]),
                                                                       10)) for i in range(5)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        batcher.close()
    assert 0.09 <= waited < 2.0  # the lone image waited for company, then ran alone
    assert len(model.batches) <= 3 and sum(len(b) for _, b in model.batches) == 6


def test_full_queue_refuses_at_once_all_or_nothing():
    gate = threading.Event()
    model = Recorder(gate=gate)
    batcher = MicroBatcher(model, BatchConfig(max_batch_size=1, max_wait_ms=0, queue_size=3))
    try:
        running = batcher.submit("k", [0])
        time.sleep(0.1)  # the worker holds image 0; the queue is empty again
        queued = batcher.submit("k", [1, 2])
        start = time.monotonic()
        with pytest.raises(QueueFull) as refused:
            batcher.submit("k", [3, 4])  # 2 + 2 > 3: neither image is queued
        assert time.monotonic() - start < 0.5 and refused.value.retry_after_s >= 1
        assert batcher.depth == 2 and batcher.stats.rejected == 2
        gate.set()
        assert [d.value for d in batcher.results(running + queued, 10)] == [0, 1, 4]
    finally:
        batcher.close()


def test_a_timed_out_request_is_cancelled_and_skipped():
    gate = threading.Event()
    model = Recorder(gate=gate)
    batcher = MicroBatcher(model, BatchConfig(max_batch_size=4, max_wait_ms=0, queue_size=8))
    try:
        blocker = batcher.submit("k", [0])
        time.sleep(0.1)
        late = batcher.submit("k", [7])
        with pytest.raises(TimeoutError):
            batcher.results(late, timeout_s=0.05)
        gate.set()
        batcher.results(blocker, 10)
        batcher.results(batcher.submit("k", [2]), 10)
    finally:
        batcher.close()
    assert [b for _, b in model.batches] == [[0], [2]]  # 7 was never computed


def test_a_failing_batch_reaches_its_requests_and_the_worker_survives():
    def model(key, payloads):
        if 13 in payloads:
            raise RuntimeError("unlucky")
        return payloads

    batcher = MicroBatcher(model, BatchConfig(max_batch_size=4, max_wait_ms=0, queue_size=8))
    try:
        with pytest.raises(RuntimeError, match="unlucky"):
            batcher.results(batcher.submit("k", [13]), 10)
        assert [d.value for d in batcher.results(batcher.submit("k", [5]), 10)] == [5]
        assert batcher.alive
    finally:
        batcher.close()


def test_close_fails_queued_work_and_refuses_more():
    gate = threading.Event()
    batcher = MicroBatcher(Recorder(gate=gate), BatchConfig(max_batch_size=1, max_wait_ms=0,
                                                            queue_size=8))
    running = batcher.submit("k", [1])
    time.sleep(0.1)
    queued = batcher.submit("k", [2])
    closer = threading.Thread(target=batcher.close)
    closer.start()
    time.sleep(0.1)
    gate.set()
    closer.join(10)
    assert batcher.results(running, 10)[0].value == 1  # the running batch finished
    with pytest.raises(BatcherClosed):
        batcher.results(queued, 10)
    with pytest.raises(BatcherClosed):
        batcher.submit("k", [3])
    assert not batcher.alive


def test_close_fails_a_batch_that_outlives_the_grace():
    """A stopping server cannot wait for a slow batch: past `timeout_s` its requests get
    BatcherClosed (503), and the batch finishing later changes nothing."""
    gate = threading.Event()
    batcher = MicroBatcher(Recorder(gate=gate), BatchConfig(max_batch_size=1, max_wait_ms=0,
                                                            queue_size=8))
    running = batcher.submit("k", [1])
    while not batcher._running:  # the worker has taken it
        time.sleep(0.01)
    began = time.monotonic()
    batcher.close(timeout_s=0.2)
    assert time.monotonic() - began < 2
    with pytest.raises(BatcherClosed):
        batcher.results(running, 1)
    gate.set()  # the model returns now: its result is dropped, the worker ends quietly
    batcher._thread.join(10)
    assert not batcher._thread.is_alive()
    with pytest.raises(BatcherClosed):
        batcher.results(running, 1)
