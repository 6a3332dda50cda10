"""Argparse flags generated from the config dataclasses, so defaults and help live in one place.

Flags default to "not given"; `apply_args` copies only what the user passed onto a base config
(a preset, or a model's saved generation defaults), which keeps that config the one source.
"""

from __future__ import annotations

import argparse
import dataclasses
import typing
from typing import Any

SEP = "__"


def _flag(section: str, f: dataclasses.Field) -> str:
    if "flag" in f.metadata:
        return f.metadata["flag"]
    return "--" + f.name.replace("_", "-")


def add_config_args(parser: argparse.ArgumentParser, cls: type, section: str,
                    title: str | None = None) -> None:
    """One flag per scalar field of dataclass `cls` (nested dataclasses are skipped)."""
    group = parser.add_argument_group(title or section)
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        kind = hints[f.name]
        if dataclasses.is_dataclass(kind):
            continue
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
        help_text = f"{f.metadata.get('help', '')} (default: {_show(default)})"
        kwargs: dict[str, Any] = {"dest": section + SEP + f.name, "default": argparse.SUPPRESS,
                                  "help": help_text}
        kwargs.update(_type_kwargs(kind))
        if "action" not in kwargs and "choices" not in kwargs:
            kwargs.setdefault("metavar", f.name.split("_")[-1].upper())
        group.add_argument(_flag(section, f), **kwargs)


def _type_kwargs(kind: Any) -> dict[str, Any]:
    origin = typing.get_origin(kind)
    if kind is bool:
        return {"action": argparse.BooleanOptionalAction}
    if origin is typing.Literal:
        return {"choices": list(typing.get_args(kind))}
    if origin is tuple:
        return {"nargs": "*", "type": typing.get_args(kind)[0], "metavar": "VALUE"}
    return {"type": kind}


def _show(value: Any) -> str:
    if isinstance(value, tuple):
        return " ".join(map(str, value)) or "none"
    return repr(value) if isinstance(value, str) else str(value)


def apply_args(config: Any, args: argparse.Namespace, section: str) -> Any:
    """A copy of `config` with the flags the user gave for `section` applied."""
    given = {key.split(SEP, 1)[1]: value for key, value in vars(args).items()
             if key.startswith(section + SEP)}
    for name, value in given.items():
        if isinstance(value, list):
            given[name] = tuple(value)
    return dataclasses.replace(config, **given)
