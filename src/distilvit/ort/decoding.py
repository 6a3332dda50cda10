"""Greedy and beam decoding over a KV cache, in numpy.

The rules mirror Hugging Face `generate` for a prompt given as embeddings (no prompt ids), so
the ONNX backend and the torch backend pick the same tokens: greedy pads finished rows with
`pad_id`; beam search keeps 2*K candidates per step and finalises a hypothesis when it ends
in EOS or reaches the length limit, scores finished ones by sum(log p) / length (length
penalty 1.0), and stops when no running beam can beat the worst finished one
(transformers' `early_stopping=False` heuristic). The logits rules (repetition penalty,
no-repeat n-grams, bad words, min new tokens) see the generated tokens only, as HF's do.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from distilvit.errors import UsageError

NEG = np.float32(-1.0e9)  # HF's "impossible" score offset for beams


@dataclass(frozen=True)
class Rules:
    max_new_tokens: int
    eos_id: int
    pad_id: int
    num_beams: int = 1
    min_new_tokens: int = 0
    repetition_penalty: float = 1.0
    no_repeat_ngram_size: int = 0
    bad_words_ids: tuple[tuple[int, ...], ...] = ()

    def __post_init__(self):
        if self.max_new_tokens < 1 or self.num_beams < 1:
            raise UsageError("max_new_tokens and num_beams must be at least 1")


@dataclass
class Cache:
    """present.{i}.key/value of every layer, in the graph's order: [rows, heads, T, head_dim]."""

    arrays: list[np.ndarray]

    @property
    def length(self) -> int:
        return self.arrays[0].shape[2]

    def select(self, rows: np.ndarray) -> Cache:
        return Cache([a[rows] for a in self.arrays])


# step(new tokens [R], cache) -> (next-token logits [R, V] float32, cache grown by one)
Step = Callable[[np.ndarray, Cache], tuple[np.ndarray, Cache]]


def process(scores: np.ndarray, generated: np.ndarray, rules: Rules) -> np.ndarray:
    """Apply the logits rules to scores [R, V] given the tokens generated so far [R, t]."""
    scores = scores.copy()
    if rules.repetition_penalty != 1.0 and generated.shape[1]:
        rows = np.arange(len(scores))[:, None]
        seen = scores[rows, generated]
        scores[rows, generated] = np.where(seen < 0, seen * rules.repetition_penalty,
                                           seen / rules.repetition_penalty)
    if rules.no_repeat_ngram_size:
        _ban_repeated_ngrams(scores, generated, rules.no_repeat_ngram_size)
    if rules.bad_words_ids:
        _ban_bad_words(scores, generated, rules.bad_words_ids, rules.eos_id)
    if generated.shape[1] < rules.min_new_tokens:
        scores[:, rules.eos_id] = -np.inf
    return scores


def _ban_repeated_ngrams(scores: np.ndarray, generated: np.ndarray, n: int) -> None:
    length = generated.shape[1]
    if length + 1 < n:
        return
    for row, tokens in enumerate(generated.tolist()):
        prefix = tuple(tokens[length + 1 - n:])
        banned = [tokens[i + n - 1] for i in range(length - n + 1)
                  if tuple(tokens[i:i + n - 1]) == prefix]
        scores[row, banned] = -np.inf


def _ban_bad_words(scores: np.ndarray, generated: np.ndarray,
                   bad_words: tuple[tuple[int, ...], ...], eos_id: int) -> None:
    for words in bad_words:
        if list(words) == [eos_id]:
            continue  # HF never bans EOS itself through bad words
        head, last = list(words[:-1]), words[-1]
        if not head:
            scores[:, last] = -np.inf
        elif generated.shape[1] >= len(head):
            hit = (generated[:, generated.shape[1] - len(head):] == head).all(axis=1)
            scores[hit, last] = -np.inf


def log_softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def greedy(step: Step, logits: np.ndarray, cache: Cache, rules: Rules) -> np.ndarray:
    """New token ids [B, T] from the prompt's last logits [B, V]."""
    batch = logits.shape[0]
    tokens = np.zeros((batch, 0), dtype=np.int64)
    finished = np.zeros(batch, dtype=bool)
    for t in range(rules.max_new_tokens):
        scores = process(logits.astype(np.float32), tokens, rules)
        chosen = np.where(finished, rules.pad_id, scores.argmax(axis=-1))
        tokens = np.concatenate([tokens, chosen[:, None]], axis=1)
        finished |= chosen == rules.eos_id
        if finished.all() or t + 1 == rules.max_new_tokens:
            break
        logits, cache = step(chosen, cache)
    return tokens


def _top(scores: np.ndarray, k: int) -> np.ndarray:
    """Indices of the k largest per row, best first (ties: lower index first)."""
    part = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    order = np.lexsort((part, -np.take_along_axis(scores, part, axis=1)), axis=1)
    return np.take_along_axis(part, order, axis=1)


def _gather(values: np.ndarray, index: np.ndarray) -> np.ndarray:
    """values [B, K, ...] picked along axis 1 by index [B, J]."""
    return values[np.arange(len(values))[:, None], index]


@dataclass
class _Beams:
    """Running and finished hypotheses of every image: [B, K, ...]."""

    running: np.ndarray  # token ids [B, K, max_new]
    running_scores: np.ndarray  # sum of log-probs [B, K]
    done: np.ndarray  # finished token ids [B, K, max_new]
    done_scores: np.ndarray  # length-normalised [B, K]
    done_flag: np.ndarray  # slot holds a real finished hypothesis [B, K]
    open: np.ndarray  # some running beam could still beat a finished one [B]


def beam_search(step: Step, logits: np.ndarray, cache: Cache, rules: Rules) -> np.ndarray:
    """Best finished hypothesis per image [B, T] from the prompt's last logits [B, V]."""
    batch, k, length = logits.shape[0], rules.num_beams, rules.max_new_tokens
    keep = 2 * k  # enough candidates that K survive even if the best K all end in EOS
    rows = np.repeat(np.arange(batch), k)
    logits, cache = logits[rows], cache.select(rows)
    fill = np.full((batch, k, length), rules.pad_id, dtype=np.int64)
    scores = np.zeros((batch, k), dtype=np.float32)
    scores[:, 1:] = NEG  # all beams start identical: expand only the first
    beams = _Beams(fill, scores, fill.copy(), np.full((batch, k), NEG, dtype=np.float32),
                   np.zeros((batch, k), dtype=bool), np.ones(batch, dtype=bool))
    for cur in range(length):
        generated = beams.running.reshape(batch * k, length)[:, :cur]
        logp = process(log_softmax(logits.astype(np.float32)), generated, rules)
        vocab = logp.shape[-1]
        total = (logp.reshape(batch, k, vocab) + beams.running_scores[:, :, None])
        total = total.reshape(batch, k * vocab)
        index = _top(total, keep)
        top_scores = np.take_along_axis(total, index, axis=1)
        parents, tokens = index // vocab, index % vocab
        candidates = _gather(beams.running, parents).copy()
        candidates[:, :, cur] = tokens
        ends = (tokens == rules.eos_id) | (cur + 1 >= length)
        parent = _advance(beams, candidates, top_scores, parents, ends, cur, k)
        beams.open &= _can_improve(beams, cur + 1)
        if not beams.open.any() or ends.all():
            break
        flat_parent = (parent + np.arange(batch)[:, None] * k).reshape(-1)
        logits, cache = step(beams.running[:, :, cur].reshape(-1), cache.select(flat_parent))
    return beams.done[:, 0, :cur + 1]


def _advance(beams: _Beams, candidates: np.ndarray, top_scores: np.ndarray,
             parents: np.ndarray, ends: np.ndarray, cur: int, k: int) -> np.ndarray:
    """Update running and finished hypotheses in place; return the running beams' parents."""
    live_scores = top_scores + ends.astype(np.float32) * NEG
    chosen = _top(live_scores, k)
    beams.running = _gather(candidates, chosen)
    beams.running_scores = np.take_along_axis(live_scores, chosen, axis=1)
    # Only the best K candidates may finish (the rest are spares for the running set).
    just_finished = ends & (np.arange(ends.shape[1]) < k)[None, :]
    finished = top_scores / np.float32(cur + 1)  # length penalty 1.0
    finished = finished + (~beams.open)[:, None].astype(np.float32) * NEG
    finished = finished + (~just_finished).astype(np.float32) * NEG
    merged = np.concatenate([beams.done_scores, finished], axis=1)
    best = _top(merged, k)
    beams.done = _gather(np.concatenate([beams.done, candidates], axis=1), best)
    beams.done_scores = np.take_along_axis(merged, best, axis=1)
    beams.done_flag = _gather(np.concatenate([beams.done_flag, just_finished], axis=1), best)
    return np.take_along_axis(parents, chosen, axis=1)


def _can_improve(beams: _Beams, cur_len: int) -> np.ndarray:
    best_running = beams.running_scores[:, :1] / np.float32(cur_len)
    worst_done = np.where(beams.done_flag, beams.done_scores.min(axis=1, keepdims=True), NEG)
    return (best_running > worst_done).any(axis=1)
