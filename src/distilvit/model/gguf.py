"""GGUF language models (llama.cpp's single-file format) as decoders.

transformers reads a GGUF file (`from_pretrained(folder, gguf_file=NAME)`, with the `gguf`
package) and de-quantizes its weights to float, but the model it returns still carries a
`quantization_config` and refuses `save_pretrained` ("quantized with gguf"), which merging and
converting need. So the weights are moved into a model built from the same config without
that field: an ordinary float model, as if loaded from a safetensors folder.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from transformers import AutoModelForCausalLM, AutoTokenizer, PreTrainedModel

from distilvit.errors import UsageError

logger = logging.getLogger(__name__)

SUFFIX = ".gguf"


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
    return AutoTokenizer.from_pretrained(folder, gguf_file=file,
                                         trust_remote_code=trust_remote_code)


def convert_gguf(path: str | Path, out: str | Path) -> Path:
    """Write the GGUF at `path` as a model folder (config.json + safetensors + tokenizer)."""
    location = gguf_location(path)
    if location is None:
        raise UsageError(f"{path}: not a .gguf file nor a folder holding one")
    out = Path(out)
    model = load_gguf_lm(*location)
    model.save_pretrained(out)
    load_gguf_tokenizer(*location).save_pretrained(out)
    logger.info("converted %s to %s", Path(*location), out)
    return out


def _need_gguf() -> None:
    try:
        import gguf  # noqa: F401
    except ImportError:
        raise UsageError("reading a .gguf language model needs the `gguf` package: "
                         "pip install 'distilvit[gguf]'") from None
