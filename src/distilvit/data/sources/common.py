"""What every source shares: reading a row's captions, id and image, and the emit loop.

A source turns one dataset row into a `Candidate` (id, split, captions, undecoded image);
`emit` filters candidates to the requested split, decodes images, skips and counts bad rows,
applies the `sample` cap, and logs one warning per source with the skip counts.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from PIL import Image

from distilvit.data.schema import Example
from distilvit.errors import ImageError
from distilvit.images import load_image

logger = logging.getLogger(__name__)


@dataclass
class Candidate:
    """One row as a source reads it, before its image is decoded (decoding is the slow part,
    so rows of other splits are dropped first)."""

    id: str
    split: str
    captions: list[str]
    image: Any  # PIL image, bytes, a path, or datasets' {"bytes", "path"} dict
    extra: dict[str, Any] = field(default_factory=dict)


# (row, the split name the row was read from, seed) -> Candidate, or None for a row the source
# leaves out on purpose (docornot's non-documents): those are not bad data and are not counted.
Parser = Callable[[Mapping[str, Any], str, int], Candidate | None]


def pick(row: Mapping[str, Any], names: Sequence[str]) -> Any:
    """The first of `names` that the row has with a non-empty value (column names vary between
    dataset versions, so sources list the variants they accept)."""
    for name in names:
        value = row.get(name)
        if value is not None and value != "" and value != []:
            return value
    return None


def captions_from(*values: Any) -> list[str]:
    """Every caption in `values` (strings, lists of strings, JSON-encoded lists from a CSV),
    whitespace stripped, empty ones and exact repeats dropped, order kept."""
    out: list[str] = []
    for value in values:
        for text in _texts(value):
            text = text.strip()
            if text and text not in out:
                out.append(text)
    return out


def _texts(value: Any) -> list[str]:
    if isinstance(value, str):
        stripped = value.strip()
        if stripped.startswith("[") and stripped.endswith("]"):
            try:
                return _texts(json.loads(stripped))
            except json.JSONDecodeError:
                pass  # a caption that happens to be bracketed
        return [value]
    if isinstance(value, (list, tuple)):
        return [item for item in value if isinstance(item, str)]
    return []


def image_key(image: Any) -> str:
    """A stable id for a row that has no id column: a hash of its image bytes (or its path)."""
    if isinstance(image, Mapping):
        image = image.get("bytes") or image.get("path")
    if isinstance(image, Image.Image):
        image = image.tobytes()
    data = image if isinstance(image, bytes) else str(image).encode()
    return hashlib.sha1(data).hexdigest()[:16]


def row_id(row: Mapping[str, Any], names: Sequence[str], image: Any) -> str:
    """The row's id column (first of `names` present), else a hash of its image."""
    value = pick(row, names)
    return str(value) if value is not None else image_key(image)


def decode_image(image: Any) -> Image.Image:
    """RGB from whatever the dataset holds; ImageError for anything unreadable or missing."""
    if isinstance(image, Mapping):
        image = image.get("bytes") or image.get("path")
    if image is None:
        raise ImageError("row has no image")
    if isinstance(image, Image.Image):
        try:
            image.load()  # datasets decodes lazily; a truncated file fails only here
        except (OSError, ValueError) as exc:
            raise ImageError(f"corrupt image ({exc})") from None
    return load_image(image)


@dataclass
class Tally:
    """What one load kept and skipped, for the end-of-source warning."""

    kept: int = 0
    skipped: Counter[str] = field(default_factory=Counter)

    def report(self, source: str, split: str) -> None:
        total = sum(self.skipped.values())
        if total:
            reasons = ", ".join(f"{n} {why}" for why, n in sorted(self.skipped.items()))
            logger.warning("%s/%s: skipped %d bad rows (%s); kept %d",
                           source, split, total, reasons, self.kept)


def emit(source: str, split: str, rows: Iterable[tuple[str, Mapping[str, Any]]],
         parse: Parser, *, seed: int, sample: int | None) -> Iterator[Example]:
    """Examples of `split` from (row split name, row) pairs; bad rows skipped and counted."""
    tally, seen = Tally(), set()
    try:
        for row_split, row in rows:
            candidate = parse(row, row_split, seed)
            if candidate is None or candidate.split != split:
                continue
            example = _to_example(source, candidate, seen, tally)
            if example is None:
                continue
            yield example
            seen.add(example.id)
            tally.kept += 1
            if sample is not None and tally.kept >= sample:
                return
    finally:  # also runs when the caller stops iterating early
        tally.report(source, split)


def _to_example(source: str, candidate: Candidate, seen: set[str],
                tally: Tally) -> Example | None:
    if candidate.id in seen:
        tally.skipped["duplicate id"] += 1
        return None
    if not candidate.captions:
        tally.skipped["no caption"] += 1
        return None
    try:
        image = decode_image(candidate.image)
    except ImageError:
        tally.skipped["unreadable image"] += 1
        return None
    return Example(image=image, captions=candidate.captions, source=source, id=candidate.id,
                   split=candidate.split, extra=candidate.extra)
