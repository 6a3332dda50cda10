"""Argparse flags generated from the config dataclasses, so defaults and help live in one place.

Flags default to "not given"; `apply_args` copies only what the user passed onto a base config
(a preset, or a model's saved generation defaults), which keeps that config the one source.
Nested dataclass fields (e.g. `TrainConfig.optim`) become argument groups of their own; their
flags carry no section prefix, so `--num-train-epochs` stays `--num-train-epochs`. Each flag
checks the field's declared range while parsing, before any data or model is loaded.
"""

from __future__ import annotations

import argparse
import dataclasses
import typing
from collections.abc import Callable
from typing import Any

from distilvit.options import field_problem, flag_name

SEP = "__"


def add_config_args(parser: argparse.ArgumentParser, cls: type, section: str,
                    title: str | None = None, nested: bool = True) -> None:
    """One flag per scalar field of dataclass `cls`; nested dataclasses recurse (as their own
    argument group) unless `nested` is False, then they are skipped."""
    title = title or section
    group = parser.add_argument_group(title)
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        kind = hints[f.name]
        if dataclasses.is_dataclass(kind):
            if nested:
                add_config_args(parser, kind, section + SEP + f.name, f"{title}: {f.name}")
            continue
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
        bounds = f.metadata.get("bounds")
        allowed = f"; {bounds.describe()}" if bounds else ""
        help_text = f"{f.metadata.get('help', '')} (default: {_show(default)}{allowed})"
        kwargs: dict[str, Any] = {"dest": section + SEP + f.name, "default": argparse.SUPPRESS,
                                  "help": help_text}
        kwargs.update(_type_kwargs(kind, f))
        if "action" not in kwargs and "choices" not in kwargs:
            kwargs.setdefault("metavar", f.name.split("_")[-1].upper())
        group.add_argument(flag_name(f), **kwargs)


def _type_kwargs(kind: Any, f: dataclasses.Field) -> dict[str, Any]:
    origin = typing.get_origin(kind)
    if kind is bool:
        return {"action": argparse.BooleanOptionalAction}
    if origin is typing.Literal:
        return {"choices": list(typing.get_args(kind))}
    if origin is tuple:
        return {"nargs": "*", "type": typing.get_args(kind)[0], "metavar": "VALUE"}
    if kind in (int, float):
        return {"type": _checked(kind, f)}
    return {"type": kind}


def _checked(kind: type, f: dataclasses.Field) -> Callable[[str], Any]:
    """`kind(text)` held to the field's range: argparse reports a failure as one line,
    `argument --batch-size: must be >= 1 (got 0)`."""

    def parse(text: str) -> Any:
        value = kind(text)  # a ValueError becomes argparse's "invalid int value: 'x'"
        problem = field_problem(f, value)
        if problem:
            raise argparse.ArgumentTypeError(f"{problem} (got {text})")
        return value

    parse.__name__ = kind.__name__
    parse.field = f  # type: ignore[attr-defined]  # lets tests enumerate each flag's range
    return parse


def _show(value: Any) -> str:
    if isinstance(value, tuple):
        return " ".join(map(str, value)) or "none"
    return repr(value) if isinstance(value, str) else str(value)


def given_args(args: argparse.Namespace, section: str) -> dict[str, Any]:
    """The flags the user gave under `section` (nested sections keep their `a__b` keys)."""
    prefix = section + SEP
    given = {key[len(prefix):]: value for key, value in vars(args).items()
             if key.startswith(prefix)}
    return {name: tuple(value) if isinstance(value, list) else value
            for name, value in given.items()}


def apply_args(config: Any, args: argparse.Namespace, section: str) -> Any:
    """A copy of `config` with the flags the user gave for `section` applied (recursing into
    nested sections); the copy's `__post_init__` checks the result."""
    given = given_args(args, section)
    changes = {name: value for name, value in given.items() if SEP not in name}
    for f in dataclasses.fields(config):
        if any(name.startswith(f.name + SEP) for name in given):
            changes[f.name] = apply_args(getattr(config, f.name), args, section + SEP + f.name)
    return dataclasses.replace(config, **changes)
