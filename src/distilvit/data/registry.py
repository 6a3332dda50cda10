"""The dataset registry: one name per source, one function to load any of them.

`load_examples(name, split)` validates its arguments at once (a typo fails before any download)
and returns a lazy iterator of `Example`s. `path` points a source at a local copy instead of the
Hub: a `save_to_disk` folder, or any local path `datasets.load_dataset` reads; for `all`, a
folder with one such copy per source, named after it.
"""

from __future__ import annotations

from collections.abc import Iterator
from itertools import chain
from pathlib import Path
from typing import Protocol

from distilvit.data.schema import Example
from distilvit.data.sources import coco, docornot, flickr, folder, pexels, textcaps, validation
from distilvit.data.sources.hub import HubSource
from distilvit.data.splits import check_split
from distilvit.errors import UsageError


class Loader(Protocol):
    def __call__(self, split: str, *, sample: int | None, path: str | None, seed: int,
                 streaming: bool | None) -> Iterator[Example]: ...


HUB_SOURCES: dict[str, HubSource] = {
    source.name: source
    for source in (flickr.SOURCE, coco.SOURCE, pexels.SOURCE, docornot.SOURCE,
                   validation.SOURCE, textcaps.SOURCE)
}


def _load_all(split: str, *, sample: int | None, path: str | None, seed: int,
              streaming: bool | None) -> Iterator[Example]:
    """Every hub source in turn, each capped at `sample` on its own."""
    paths = _all_paths(path)
    return chain.from_iterable(
        source.load(split, sample=sample, path=paths[name], seed=seed, streaming=streaming)
        for name, source in HUB_SOURCES.items())


def _all_paths(path: str | None) -> dict[str, str | None]:
    if path is None:
        return dict.fromkeys(HUB_SOURCES)
    missing = [name for name in HUB_SOURCES if not (Path(path) / name).exists()]
    if missing:
        raise UsageError(f"{path}: for 'all', the path must hold one local copy per source; "
                         f"missing {', '.join(missing)}")
    return {name: str(Path(path) / name) for name in HUB_SOURCES}


def _load_shapes(split: str, *, sample: int | None, path: str | None, seed: int,
                 streaming: bool | None) -> Iterator[Example]:
    if path is not None:
        raise UsageError("the 'shapes' source is generated in memory; it takes no path")
    from distilvit.data.synthetic import load_shapes  # written separately; imported on use

    return load_shapes(split, sample=sample, seed=seed)


_LOADERS: dict[str, Loader] = {
    **{name: source.load for name, source in HUB_SOURCES.items()},
    "all": _load_all,
    "folder": folder.load,
    "shapes": _load_shapes,
}


def source_names() -> list[str]:
    return list(_LOADERS)


def load_examples(name: str, split: str, *, sample: int | None = None, path: str | None = None,
                  seed: int = 0, streaming: bool | None = None) -> Iterator[Example]:
    """Examples of one split of one source (see docs/datasets.md for each source)."""
    check_source(name, path)
    check_split(split)
    if sample is not None and sample < 1:
        raise UsageError(f"sample must be a positive number of examples, got {sample}")
    return _LOADERS[name](split, sample=sample, path=path, seed=seed, streaming=streaming)


def check_sources(names: tuple[str, ...], path: str = "") -> None:
    """`check_source` for each of a run's `--dataset` names ('' path = the Hub)."""
    for name in names:
        check_source(name, path or None)


def check_source(name: str, path: str | None = None) -> None:
    """A one-line UsageError for an unknown source or a missing local copy (cheap: callers
    run it before loading a model)."""
    if name not in _LOADERS:
        raise UsageError(f"unknown dataset {name!r} (--dataset); choose one of "
                         f"{', '.join(_LOADERS)}")
    if path is not None and not Path(path).exists():
        raise UsageError(f"{path}: no such file or folder (the local copy of {name!r}, "
                         "--dataset-path)")
