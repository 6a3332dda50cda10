"""Hub-hosted sources, and the one code path that opens a hub id or a local copy of it.

`datasets` is imported inside the functions: it is the `[train]` extra, and the registry must
import (and list its sources) without it.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from distilvit.data.schema import SPLITS, Example
from distilvit.data.sources.common import Parser, emit
from distilvit.errors import UsageError

SplitMap = Mapping[str, tuple[str, ...]]  # our split -> the source's splits that hold its rows


def everything_in(hub_split: str) -> SplitMap:
    """For a source with a single split: all three of ours are read from it (then assigned by a
    split column or by seeded id hash)."""
    return {split: (hub_split,) for split in SPLITS}


SAME_NAMES: SplitMap = {split: (split,) for split in SPLITS}


@dataclass(frozen=True)
class HubSource:
    name: str  # registry name
    hub_id: str
    streaming: bool  # default: large sources stream, so `all` never needs them all on disk
    hub_splits: SplitMap
    parse: Parser

    @property
    def single_split(self) -> bool:
        """True when every row comes from one hub split, so a local copy may be a plain Dataset."""
        return len({name for names in self.hub_splits.values() for name in names}) == 1

    def load(self, split: str, *, sample: int | None = None, path: str | None = None,
             seed: int = 0, streaming: bool | None = None) -> Iterator[Example]:
        ref = self.hub_id if path is None else path
        stream = self.streaming if streaming is None else streaming
        rows = self._rows(ref, self.hub_splits[split], stream)
        return emit(self.name, split, rows, self.parse, seed=seed, sample=sample)

    def _rows(self, ref: str, hub_splits: tuple[str, ...],
              streaming: bool) -> Iterator[tuple[str, Mapping[str, Any]]]:
        for hub_split in hub_splits:
            for row in open_split(ref, hub_split, streaming=streaming,
                                  single_ok=self.single_split):
                yield hub_split, row


def open_split(ref: str, hub_split: str, *, streaming: bool,
               single_ok: bool) -> Iterable[Mapping[str, Any]]:
    """Rows of one split of a hub id, a `save_to_disk` folder, or any local path
    `load_dataset` reads (parquet/arrow/imagefolder), with images left undecoded."""
    if is_saved_dataset(ref):
        data = _from_disk(ref, hub_split, single_ok)
    else:
        data = _from_load_dataset(ref, hub_split, streaming)
    return undecoded(data)


def is_saved_dataset(ref: str) -> bool:
    """A folder written by `Dataset.save_to_disk` or `DatasetDict.save_to_disk`."""
    folder = Path(ref)
    return folder.is_dir() and any(
        (folder / marker).is_file() for marker in ("dataset_dict.json", "state.json"))


def _from_disk(ref: str, hub_split: str, single_ok: bool) -> Any:
    import datasets

    data = datasets.load_from_disk(ref)
    if isinstance(data, datasets.DatasetDict):
        if hub_split not in data:
            raise UsageError(f"{ref}: no split {hub_split!r} in this saved dataset (it has "
                             f"{', '.join(data) or 'none'}); save the source's own splits")
        return data[hub_split]
    if not single_ok:
        raise UsageError(f"{ref}: a single saved Dataset, but this source reads several "
                         f"splits; save a DatasetDict that has {hub_split!r}")
    return data


def _from_load_dataset(ref: str, hub_split: str, streaming: bool) -> Any:
    import datasets

    try:
        return datasets.load_dataset(ref, split=hub_split, streaming=streaming)
    except (OSError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UsageError(
            f"cannot read split {hub_split!r} of {ref!r}: {first[:200]} (pass a local copy "
            "as the path, or make sure the Hub is reachable)") from None


def undecoded(data: Any) -> Any:
    """Ask `datasets` for raw image bytes: decoding inside its iterator would raise on the first
    corrupt image and end the whole pass; decoded here, a bad image skips one row."""
    import datasets

    features = getattr(data, "features", None) or {}
    if isinstance(features.get("image"), datasets.Image):
        data = data.cast_column("image", datasets.Image(decode=False))
    return data
