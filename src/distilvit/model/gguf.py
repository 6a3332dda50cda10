"""GGUF language models (llama.cpp's single-file format) as decoders.

transformers reads a GGUF file (`from_pretrained(folder, gguf_file=NAME)`, with the `gguf`
package) and de-quantizes its weights to float, but the model it returns still carries a
`quantization_config` and refuses `save_pretrained` ("quantized with gguf"), which merging and
converting need. So the weights are moved into a model built from the same config without
that field: an ordinary float model, as if loaded from a safetensors folder.
"""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from transformers import AutoModelForCausalLM, AutoTokenizer, PreTrainedModel

from distilvit.errors import UsageError

logger = logging.getLogger(__name__)

SUFFIX = ".gguf"
_READING = threading.RLock()  # one_reading patches the gguf module: one load at a time
_reading = False  # a one_reading block is open (in the thread holding _READING)


def gguf_location(path: str | Path) -> tuple[str, str] | None:
    """(folder, file name) when `path` is a .gguf file or a folder holding exactly one (and no
    config.json: a model folder with a stray .gguf beside it loads as a model folder)."""
    p = Path(path)
    if p.suffix == SUFFIX and p.is_file():
        return str(p.parent), p.name
    if not p.is_dir() or (p / "config.json").is_file():
        return None
    found = sorted(f.name for f in p.glob(f"*{SUFFIX}") if f.is_file())
    if len(found) > 1:
        raise UsageError(f"{p}: holds {len(found)} .gguf files ({', '.join(found[:3])}); pass "
                         "the one to use as the file path")
    return (str(p), found[0]) if found else None


def load_gguf_lm(folder: str, file: str, trust_remote_code: bool = False) -> PreTrainedModel:
    """The GGUF's weights de-quantized to float32 in a plain (saveable) causal LM."""
    import torch

    _need_gguf()
    with one_reading():
        loaded = AutoModelForCausalLM.from_pretrained(
            folder, gguf_file=file, dtype=torch.float32, trust_remote_code=trust_remote_code)
    config = loaded.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    config.name_or_path = str(Path(folder) / file)
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32,
                                             trust_remote_code=trust_remote_code)
    model.load_state_dict(loaded.state_dict())
    model.generation_config = loaded.generation_config
    return model.eval()


def load_gguf_tokenizer(folder: str, file: str, trust_remote_code: bool = False) -> Any:
    _need_gguf()
    with one_reading():
        return AutoTokenizer.from_pretrained(folder, gguf_file=file,
                                             trust_remote_code=trust_remote_code)


def convert_gguf(path: str | Path, out: str | Path) -> Path:
    """Write the GGUF at `path` as a model folder (config.json + safetensors + tokenizer)."""
    location = gguf_location(path)
    if location is None:
        raise UsageError(f"{path}: not a .gguf file nor a folder holding one")
    out = Path(out)
    with one_reading():
        model = load_gguf_lm(*location)
        tokenizer = load_gguf_tokenizer(*location)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    logger.info("converted %s to %s", Path(*location), out)
    return out


@contextmanager
def one_reading() -> Iterator[None]:
    """Within this block each GGUF file is parsed once and gguf's tensor-name map built once.

    transformers parses a GGUF's header (for SmolLM2, 49k tokens and 49k merges: ~4 s) once for
    the config, once for the weights and once for the tokenizer, and rebuilds
    `gguf.get_tensor_name_map(arch, layers)`, a pure function, for every module of the model
    (~400 times, ~6 s). Both are looked up in the `gguf` module at call time, so they are
    swapped for memoized ones here and restored on exit: SmolLM2's weights load in ~6 s
    instead of ~14 s, its tokenizer then in under 1 s. Re-entrant; one load at a time."""
    import gguf

    global _reading
    with _READING:
        if _reading:
            yield  # an enclosing block already shares its readers
            return
        real_reader, real_name_map = gguf.GGUFReader, gguf.get_tensor_name_map
        readers: dict[tuple[str, str], Any] = {}

        def shared_reader(path: str | Path, mode: str = "r") -> Any:
            key = (str(Path(path).resolve()), mode)
            if key not in readers:
                readers[key] = real_reader(path, mode)
            return readers[key]

        gguf.GGUFReader = shared_reader
        gguf.get_tensor_name_map = functools.cache(real_name_map)
        _reading = True
        try:
            yield
        finally:
            _reading = False
            gguf.GGUFReader, gguf.get_tensor_name_map = real_reader, real_name_map


def _need_gguf() -> None:
    try:
        import gguf  # noqa: F401
    except ImportError:
        raise UsageError("reading a .gguf language model needs the `gguf` package: "
                         "pip install 'distilvit[gguf]'") from None
