"""Image-text alignment: CLIPScore and RefCLIPScore (Hessel et al. 2021, EMNLP).

    CLIP-S(c, v)       = w * max(cos(E_c, E_v), 0),  w = 2.5
    RefCLIP-S(c, R, v) = H-Mean(CLIP-S(c, v), max(max_{r in R} cos(E_c, E_r), 0))

E are the model's projected embeddings; every text is prefixed with "A photo depicts", as in
the paper. The weight w = 2.5 only stretches the range (raw cosines of CLIP ViT-B/32 sit
around 0.2-0.4); the original report printed the raw cosine, which is not comparable with
published CLIPScores. Any CLIP or SigLIP checkpoint loads through `from_pretrained`; SigLIP
text towers were trained on max-length padding, so their texts are padded that way.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np
from PIL import Image

from distilvit.errors import UsageError

logger = logging.getLogger(__name__)

W = 2.5
HUB_HOST = ("huggingface.co", 443)


class AlignmentUnavailable(UsageError):
    """The CLIP model cannot be loaded here (not cached and the Hub is unreachable)."""


def clip_score(cos: np.ndarray) -> np.ndarray:
    """CLIP-S from image-caption cosines."""
    return W * np.clip(cos, 0.0, None)


def ref_clip_score(clip_s: np.ndarray, ref_cos: np.ndarray) -> np.ndarray:
    """Harmonic mean of CLIP-S and the best reference cosine (clipped at 0); 0 where either is."""
    ref = np.clip(ref_cos, 0.0, None)
    total = clip_s + ref
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, 2 * clip_s * ref / np.where(total > 0, total, 1.0), 0.0)


def hub_reachable(timeout: float = 3.0) -> bool:
    """Whether a model download could work at all; a refused DNS lookup fails at once, where
    transformers would retry for about a minute."""
    if os.environ.get("HF_HUB_OFFLINE", "").strip() not in ("", "0"):
        return False
    if any(os.environ.get(name) for name in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY")):
        return True  # the proxy decides; let the download try
    endpoint = urlsplit(os.environ.get("HF_ENDPOINT", "") or f"https://{HUB_HOST[0]}")
    host = (endpoint.hostname or HUB_HOST[0], endpoint.port or HUB_HOST[1])
    try:
        with socket.create_connection(host, timeout=timeout):
            return True
    except OSError:
        return False


class ClipScorer:
    """Embeds images and texts with one CLIP/SigLIP model (batched, no gradients)."""

    def __init__(self, name_or_path: str, prefix: str = "A photo depicts", device: str = "auto"):
        from distilvit.runtime import hf_quiet, pick_device

        self.name = name_or_path
        self.prefix = prefix.strip()
        self.device = pick_device(device)
        with hf_quiet():
            self.model, self.tokenizer, self.processor = _load(name_or_path)
        self.model.to(self.device).eval()
        config = self.model.config
        self.siglip = "siglip" in config.model_type
        text = getattr(config, "text_config", config)
        self.max_length = int(getattr(text, "max_position_embeddings", 77))

    def embed_images(self, images: Sequence[Image.Image]) -> np.ndarray:
        import torch

        pixels = self.processor(images=list(images), return_tensors="pt")["pixel_values"]
        with torch.inference_mode():
            out = self.model.get_image_features(pixel_values=pixels.to(self.device))
        return _unit(out)

    def embed_texts(self, texts: Sequence[str]) -> np.ndarray:
        import torch

        prompts = [f"{self.prefix} {t}".strip() for t in texts]
        padding = "max_length" if self.siglip else True
        batch = self.tokenizer(prompts, padding=padding, truncation=True,
                               max_length=self.max_length, return_tensors="pt")
        kwargs = {"input_ids": batch["input_ids"].to(self.device)}
        if "attention_mask" in batch and not self.siglip:
            kwargs["attention_mask"] = batch["attention_mask"].to(self.device)
        with torch.inference_mode():
            out = self.model.get_text_features(**kwargs)
        return _unit(out)


def _unit(out) -> np.ndarray:
    """L2-normalised rows; transformers 5 returns an output object whose pooler_output holds
    the projected embeddings, older versions the tensor itself."""
    tensor = out if hasattr(out, "detach") else out.pooler_output
    array = tensor.detach().float().cpu().numpy()
    return array / np.maximum(np.linalg.norm(array, axis=1, keepdims=True), 1e-12)


def resolve_model(name_or_path: str) -> str:
    """A local folder to load from: the path itself, the Hub cache's snapshot of a Hub id
    (loaded from disk: no request at all), or the Hub id when the Hub can be reached."""
    if Path(name_or_path).is_dir():
        return name_or_path
    from huggingface_hub import try_to_load_from_cache

    try:
        cached = try_to_load_from_cache(name_or_path, "config.json")
    except ValueError:  # not a valid repo id
        raise UsageError(f"--clip-model {name_or_path}: no such folder, and not a Hub id")\
            from None
    if isinstance(cached, str):
        return str(Path(cached).parent)
    if not hub_reachable():
        raise AlignmentUnavailable(
            f"{name_or_path} is not in the local cache and the Hugging Face Hub cannot be "
            "reached; pass --clip-model PATH (a local CLIP/SigLIP folder) or --clip-model none")
    return name_or_path


def _load(name_or_path: str):
    from transformers import AutoImageProcessor, AutoModel, AutoTokenizer

    source = resolve_model(name_or_path)
    try:
        return (AutoModel.from_pretrained(source), AutoTokenizer.from_pretrained(source),
                AutoImageProcessor.from_pretrained(source))
    except (OSError, ValueError) as exc:
        raise UsageError(f"--clip-model {name_or_path}: cannot load a CLIP/SigLIP model "
                         f"({_first_line(exc)})") from None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return (text.splitlines()[0] if text else type(exc).__name__)[:200]
