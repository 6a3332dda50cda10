"""Errors a user can cause. Each carries one line that names the input and what to do."""


class DistilvitError(Exception):
    """Base class: the CLI prints `error: <message>` and exits without a traceback."""

    exit_code = 1


class UsageError(DistilvitError):
    """Bad arguments: a wrong model directory, an unknown preset, a bad flag value."""

    exit_code = 2


class ConfigError(UsageError, ValueError):
    """A setting that does not fit the model it is applied to (a pixel-shuffle factor that does
    not divide the tower's patch grid); also a ValueError for code that builds models."""


class ModelDirError(UsageError):
    """A path that is not a distilvit model directory."""


class ImageError(DistilvitError):
    """One input image could not be read; other images in the same run still get captions."""
