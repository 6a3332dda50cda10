"""The LLM de-biasing backend: any OpenAI-compatible chat server (llama.cpp, vLLM, Ollama).

- Batching: up to `llm_batch_size` captions per request, sent as a JSON array; the answer
  must be a JSON array of as many strings. A batch whose answer cannot be used is retried
  caption by caption, so one bad caption does not sink its neighbours.
- Retries: 408/409/429/5xx and network errors are retried with exponential backoff
  (`llm_backoff` * 2^attempt seconds, or the server's Retry-After); 401/403/404 stop the run
  with one line (a wrong key, URL or model would fail every row the same way).
- Disk cache: one small JSON file per (model, prompt, temperature, caption), written
  atomically, so a rerun, or a run interrupted and restarted, sends no request for captions
  already rewritten. Failures are not cached.
- A caption that still fails keeps its original text and is counted in `failed`.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from distilvit.errors import DistilvitError
from distilvit.quality.config import LLMConfig

logger = logging.getLogger(__name__)

SYSTEM_PROMPT = """You rewrite image captions used as alt text. Follow these guidelines:
- No gendered words: say person, people, child or children instead of man, woman, boy, girl.
- No ethnic, racial, national or religious markers, and no sexual orientation.
- No judgements of appearance (beautiful, ugly).
- One simple sentence.
- Keep every other important detail: objects, actions, colours, counts, setting, text shown.
Answer with a JSON array of strings only: one rewritten caption per input caption, same order."""

RETRY_STATUS = frozenset({408, 409, 425, 429, 500, 502, 503, 504})
FATAL_STATUS = {401: "the API key was refused", 403: "access denied",
                404: "no such endpoint or model"}
MAX_DELAY = 60.0


class LLMError(DistilvitError):
    """The server cannot be used at all (wrong URL, key or model)."""


class RequestFailed(Exception):
    """One request failed for good (after retries, or with a 4xx that retrying cannot fix)."""


def chat_url(base: str) -> str:
    base = base.rstrip("/")
    if base.endswith("/chat/completions"):
        return base
    return base + ("/chat/completions" if base.endswith("/v1") else "/v1/chat/completions")


def user_message(captions: Sequence[str]) -> str:
    return (f"Rewrite each of these {len(captions)} captions. Answer with a JSON array of "
            f"{len(captions)} strings.\nCaptions:\n" + json.dumps(list(captions),
                                                                ensure_ascii=False))


def parse_answer(content: str, expected: int) -> list[str] | None:
    """The JSON array in a model's answer (code fences and chatter around it allowed)."""
    start, end = content.find("["), content.rfind("]")
    if start < 0 or end <= start:
        return None
    try:
        values = json.loads(content[start:end + 1])
    except json.JSONDecodeError:
        return None
    if (not isinstance(values, list) or len(values) != expected
            or not all(isinstance(v, str) and v.strip() for v in values)):
        return None
    return [v.strip() for v in values]


class ChatClient:
    """POSTs chat completions with retries; `sleep` is injectable so tests do not wait."""

    def __init__(self, cfg: LLMConfig, sleep: Callable[[float], None] = time.sleep):
        self.cfg, self.sleep, self.url = cfg, sleep, chat_url(cfg.llm_url)
        self.key = os.environ.get(cfg.llm_api_key_env, "") if cfg.llm_api_key_env else ""
        self.requests = 0

    def complete(self, messages: list[dict[str, str]]) -> str:
        body = json.dumps({"model": self.cfg.llm_model, "messages": messages,
                           "temperature": self.cfg.llm_temperature}).encode()
        headers = {"Content-Type": "application/json"}
        if self.key:
            headers["Authorization"] = f"Bearer {self.key}"
        for attempt in range(self.cfg.llm_max_retries + 1):
            self.requests += 1
            try:
                request = urllib.request.Request(self.url, data=body, headers=headers)
                with urllib.request.urlopen(request, timeout=self.cfg.llm_timeout) as response:
                    return _content(json.loads(response.read()))
            except urllib.error.HTTPError as exc:
                delay = self._on_http_error(exc, attempt)
            except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
                delay = self._backoff(attempt, None)
                logger.debug("request to %s failed (%s)", self.url, exc)
            except (ValueError, KeyError, IndexError, TypeError) as exc:
                raise RequestFailed(f"malformed response ({exc})") from None
            if attempt < self.cfg.llm_max_retries:
                self.sleep(delay)
        raise RequestFailed(f"gave up after {self.cfg.llm_max_retries + 1} attempts")

    def _on_http_error(self, exc: urllib.error.HTTPError, attempt: int) -> float:
        if exc.code in FATAL_STATUS:
            raise LLMError(f"{self.url}: HTTP {exc.code}, {FATAL_STATUS[exc.code]} (check "
                           f"--llm-url, --llm-model and ${self.cfg.llm_api_key_env})")
        if exc.code not in RETRY_STATUS:
            raise RequestFailed(f"HTTP {exc.code}")
        return self._backoff(attempt, exc.headers.get("Retry-After") if exc.headers else None)

    def _backoff(self, attempt: int, retry_after: str | None) -> float:
        if retry_after is not None:
            try:
                return min(max(float(retry_after), 0.0), MAX_DELAY)
            except ValueError:
                pass  # an HTTP date: fall back to our own schedule
        return min(self.cfg.llm_backoff * 2 ** attempt, MAX_DELAY)


def _content(payload: dict[str, Any]) -> str:
    return payload["choices"][0]["message"]["content"]


@dataclass
class RewriteStats:
    captions: int = 0
    cached: int = 0
    failed: int = 0
    requests: int = 0


class LLMRewriter:
    """Rewrites captions through a `ChatClient`, with the disk cache and per-caption fallback."""

    def __init__(self, cfg: LLMConfig, client: ChatClient | None = None):
        self.cfg = cfg
        self.client = client or ChatClient(cfg)
        self.cache = Path(cfg.llm_cache_dir)
        self.stats = RewriteStats()

    def rewrite(self, captions: Sequence[str]) -> list[str | None]:
        """One rewrite per caption; None where it failed (the caller keeps the original)."""
        unique = list(dict.fromkeys(captions))
        answers = {c: self._cached(c) for c in unique}
        todo = [c for c in unique if answers[c] is None]
        self.stats.cached += len(unique) - len(todo)
        size = max(self.cfg.llm_batch_size, 1)
        batches = [todo[i:i + size] for i in range(0, len(todo), size)]
        with ThreadPoolExecutor(max(self.cfg.llm_concurrency, 1)) as pool:
            for batch, result in zip(batches, pool.map(self._batch, batches), strict=True):
                answers.update(zip(batch, result, strict=True))
        self.stats.requests = self.client.requests
        out = [answers[c] for c in captions]
        self.stats.captions += len(captions)
        self.stats.failed += sum(1 for a in out if a is None)
        return out

    def _batch(self, batch: list[str]) -> list[str | None]:
        result = self._ask(batch)
        if result is None and len(batch) > 1:
            logger.debug("batch of %d unusable; retrying caption by caption", len(batch))
            return [self._single(c) for c in batch]
        if result is None:
            return [None]
        for caption, answer in zip(batch, result, strict=True):
            self._store(caption, answer)
        return list(result)

    def _single(self, caption: str) -> str | None:
        result = self._ask([caption])
        if result is None:
            return None
        self._store(caption, result[0])
        return result[0]

    def _ask(self, batch: list[str]) -> list[str] | None:
        messages = [{"role": "system", "content": SYSTEM_PROMPT},
                    {"role": "user", "content": user_message(batch)}]
        try:
            return parse_answer(self.client.complete(messages), len(batch))
        except RequestFailed as exc:
            logger.warning("LLM request for %d caption(s) failed: %s", len(batch), exc)
            return None

    # ----- cache ----------------------------------------------------------------------------
    def _key_path(self, caption: str) -> Path:
        key = json.dumps([self.cfg.llm_model, SYSTEM_PROMPT, self.cfg.llm_temperature, caption])
        digest = hashlib.sha256(key.encode()).hexdigest()
        return self.cache / digest[:2] / f"{digest}.json"

    def _cached(self, caption: str) -> str | None:
        path = self._key_path(caption)
        try:
            return json.loads(path.read_text())["rewrite"]
        except (OSError, ValueError, KeyError):
            return None

    def _store(self, caption: str, rewrite: str) -> None:
        path = self._key_path(caption)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.{id(rewrite)}.tmp")
        tmp.write_text(json.dumps({"caption": caption, "rewrite": rewrite}, ensure_ascii=False))
        os.replace(tmp, path)  # atomic: a crash never leaves half a file
