"""distilvit: tiny, private image captioners (alt text) that run in the browser."""

__version__ = "0.1.0"

__all__ = ["__version__"]
