"""One batch run: list inputs, skip those already in the output, caption the rest, write,
show progress and a summary. The engine (local threads or Ray) only turns items into records.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from distilvit.batch.inputs import Item
from distilvit.batch.outputs import Output, Record


@dataclass
class Summary:
    captioned: int = 0
    failed: int = 0
    skipped: int = 0  # already in the output from an earlier run
    started: float = field(default_factory=time.perf_counter)
    seconds: float = 0.0

    def add(self, records: list[Record]) -> None:
        for rec in records:
            if rec["error"] is None:
                self.captioned += 1
            else:
                self.failed += 1

    @property
    def images_per_second(self) -> float:
        done = self.captioned + self.failed
        return done / self.seconds if self.seconds > 0 else 0.0

    def line(self) -> str:
        return (f"captioned {self.captioned}, failed {self.failed}, skipped {self.skipped} "
                f"(done before), {self.images_per_second:.2f} images/s over "
                f"{self.seconds:.1f} s")


def not_done(items: Iterable[Item], output: Output, summary: Summary) -> Iterator[Item]:
    """The items whose key is not in the output yet, counting the others as skipped."""
    for item in items:
        if item.key in output.done:
            summary.skipped += 1
        else:
            yield item


def drive(batches: Iterable[list[Record]], output: Output, summary: Summary,
          total: int | None, progress: bool) -> Summary:
    """Write each batch of records, advance the bar, close the output; the filled summary."""
    bar = None
    if progress:
        from tqdm import tqdm

        remaining = None if total is None else max(0, total - len(output.done))
        bar = tqdm(total=remaining, unit="img", desc="caption", file=sys.stderr,
                   mininterval=1.0, smoothing=0.1, dynamic_ncols=True)
    try:
        for records in batches:
            output.write(records)
            summary.add(records)
            if bar is not None:
                bar.update(len(records))
    finally:
        output.close()
        if bar is not None:
            bar.close()
        summary.seconds = time.perf_counter() - summary.started
    return summary
