"""Field metadata shared by every config dataclass: help text, flag name and allowed range.

A config field declares its CLI help, its flag (when it differs from the field name) and its
bounds once, with `option(...)`; `distilvit.cli_args` turns that into a flag that argparse
checks while parsing, and each config's `__post_init__` calls `check_fields`, so a config built
in Python is held to the same ranges. Violations are one-line `UsageError`s naming the flag.
"""

from __future__ import annotations

import dataclasses
import math
import re
from dataclasses import dataclass
from typing import Any

from distilvit.errors import UsageError


@dataclass(frozen=True)
class Bounds:
    """An allowed numeric range; `None` leaves that side open."""

    at_least: float | None = None
    above: float | None = None
    at_most: float | None = None
    below: float | None = None

    def describe(self) -> str:
        """The range in words for --help: `>= 1`, `> 0 and <= 1`."""
        parts = [f"{sign} {_number(limit)}" for limit, sign in
                 ((self.at_least, ">="), (self.above, ">"), (self.at_most, "<="),
                  (self.below, "<")) if limit is not None]
        return " and ".join(parts)

    def problem(self, value: Any) -> str | None:
        """What is wrong with `value` ("must be >= 1"), or None when it is allowed."""
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return None
        if isinstance(value, float) and not math.isfinite(value):
            return "must be a finite number"
        checks = ((self.at_least, value >= (self.at_least or 0), ">="),
                  (self.above, value > (self.above or 0), ">"),
                  (self.at_most, value <= (self.at_most or 0), "<="),
                  (self.below, value < (self.below or 0), "<"))
        for limit, ok, sign in checks:
            if limit is not None and not ok:
                return f"must be {sign} {_number(limit)}"
        return None


def option(text: str, *, flag: str | None = None, at_least: float | None = None,
           above: float | None = None, at_most: float | None = None,
           below: float | None = None) -> dict[str, Any]:
    """A field's metadata: help text, optional flag name and optional bounds."""
    meta: dict[str, Any] = {"help": text}
    if flag is not None:
        meta["flag"] = flag
    if any(b is not None for b in (at_least, above, at_most, below)):
        meta["bounds"] = Bounds(at_least, above, at_most, below)
    return meta


def flag_name(f: dataclasses.Field) -> str:
    """The CLI flag of a field: its `flag` metadata, else `--field-name`."""
    return f.metadata.get("flag") or "--" + f.name.replace("_", "-")


def field_problem(f: dataclasses.Field, value: Any) -> str | None:
    bounds = f.metadata.get("bounds")
    if bounds is None:
        return Bounds().problem(value)  # floats must still be finite
    return bounds.problem(value)


def check_fields(config: Any) -> None:
    """UsageError for the first scalar field of `config` outside its declared bounds."""
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        problem = field_problem(f, value)
        if problem:
            raise UsageError(f"{flag_name(f)} {problem} (got {_number(value)})")


# What `runtime.pick_device` hands to torch.device, checked without importing torch.
_DEVICE = re.compile(r"(auto|cpu|mps|cuda|xpu|hpu|npu)(:\d+)?")


def check_device(device: str) -> None:
    """A one-line UsageError for a `--device` torch would refuse."""
    require(_DEVICE.fullmatch(device) is not None,
            f"--device {device!r} is not a device; use auto, cpu, cuda, cuda:N or mps")


def require(ok: bool, message: str) -> None:
    """A consistency check between fields: UsageError(message) unless `ok`."""
    if not ok:
        raise UsageError(message)


def _number(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)
