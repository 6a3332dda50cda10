"""The LLM de-biasing backend against a real local HTTP server speaking the OpenAI chat API:
batching, retries on 500/429 with backoff, the disk cache, failing rows kept and counted."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from distilvit.cli import main
from distilvit.quality.config import LLMConfig
from distilvit.quality.debias_rules import rewrite
from distilvit.quality.llm import ChatClient, LLMError, LLMRewriter, chat_url, parse_answer
from fixtures.quality_helpers import people_rows

POISON = "UNANSWERABLE"  # a caption the fake model answers with prose instead of JSON


class FakeModel:
    """What the server does: rewrite with the rules backend, or fail as scripted."""

    def __init__(self):
        self.requests: list[dict] = []
        self.statuses: list[int] = []  # HTTP errors to answer the next requests with
        self.lock = threading.Lock()

    def answer(self, body: dict, headers) -> tuple[int, dict, dict]:
        with self.lock:
            self.requests.append({"body": body, "auth": headers.get("Authorization")})
            status = self.statuses.pop(0) if self.statuses else 200
        if status != 200:
            return status, {"Retry-After": "0"} if status == 429 else {}, {"error": "busy"}
        captions = json.loads(body["messages"][-1]["content"].split("Captions:\n", 1)[1])
        if any(POISON in c for c in captions):
            content = "Sorry, I cannot help with that."
        else:
            content = "```json\n" + json.dumps([rewrite(c) for c in captions]) + "\n```"
        return 200, {}, {"choices": [{"message": {"role": "assistant", "content": content}}]}


@pytest.fixture()
def server() -> Iterator[tuple[str, FakeModel]]:
    model = FakeModel()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 (http.server's name)
            if self.path != "/v1/chat/completions":
                self.send_error(404)
                return
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            status, headers, payload = model.answer(body, self.headers)
            data = json.dumps(payload).encode()
            self.send_response(status)
            for key, value in {**headers, "Content-Type": "application/json"}.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args):
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/v1", model
    httpd.shutdown()
    httpd.server_close()


def config(url: str, tmp_path, **kwargs) -> LLMConfig:
    return LLMConfig(llm_url=url, llm_model="tiny", llm_batch_size=4, llm_backoff=0.5,
                     llm_cache_dir=str(tmp_path / "cache"), llm_api_key_env="TEST_LLM_KEY",
                     **kwargs)


def test_batches_retries_cache_and_failures(server, tmp_path, monkeypatch):
    url, model = server
    monkeypatch.setenv("TEST_LLM_KEY", "secret")
    captions = [r["alt_text"] for r in people_rows()[:9]] + [f"A man says {POISON}."]
    captions.append(captions[0])  # a repeat is asked once
    model.statuses = [500, 429]
    sleeps: list[float] = []
    cfg = config(url, tmp_path)
    rewriter = LLMRewriter(cfg, ChatClient(cfg, sleep=sleeps.append))
    result = rewriter.rewrite(captions)
    assert result[:9] == [rewrite(c) for c in captions[:9]] and result[10] == result[0]
    assert result[9] is None  # its batch came back as prose; alone, it failed again
    # 10 distinct captions in batches of 4: 3 batches, the first tried 3 times (500, 429),
    # the last (2 captions, one poisoned) retried caption by caption: 3 + 2 + 2 requests.
    assert len(model.requests) == 7
    assert sleeps == [0.5, 0.0]  # backoff for the 500, the server's Retry-After: 0 for the 429
    sizes = [len(json.loads(r["body"]["messages"][-1]["content"].split("Captions:\n")[1]))
             for r in model.requests]
    assert sizes == [4, 4, 4, 4, 2, 1, 1]
    assert all(r["auth"] == "Bearer secret" and r["body"]["model"] == "tiny"
               for r in model.requests)
    assert rewriter.stats.failed == 1 and rewriter.stats.cached == 0
    # A rerun of the captions that succeeded is served from the disk cache: no request.
    again = LLMRewriter(cfg, ChatClient(cfg, sleep=sleeps.append))
    assert again.rewrite(captions[:9]) == result[:9]
    assert len(model.requests) == 7 and again.stats.cached == 9
    # The failed caption was not cached: it is asked again.
    assert again.rewrite([captions[9]]) == [None] and len(model.requests) == 8


def test_persistent_server_errors_give_up_and_keep_the_caption(server, tmp_path):
    url, model = server
    model.statuses = [503] * 10
    cfg = config(url, tmp_path, llm_max_retries=2)
    rewriter = LLMRewriter(cfg, ChatClient(cfg, sleep=lambda s: None))
    assert rewriter.rewrite(["A woman reading."]) == [None]
    assert len(model.requests) == 3 and rewriter.stats.failed == 1


def test_wrong_endpoint_stops_the_run(server, tmp_path):
    url, _ = server
    cfg = config(url.replace("/v1", "/nope/v1"), tmp_path)
    with pytest.raises(LLMError, match="HTTP 404"):
        LLMRewriter(cfg, ChatClient(cfg, sleep=lambda s: None)).rewrite(["A man."])


def test_debias_cli_with_the_llm_backend(server, tmp_path, capsys):
    url, model = server
    rows = people_rows()[:6]
    source = tmp_path / "in.jsonl"
    rows[2] = {**rows[2], "alt_text": f"A {POISON} caption."}
    source.write_text("".join(json.dumps(r) + "\n" for r in rows))
    argv = ["data", "debias", str(source), "--output", str(tmp_path / "out.jsonl"),
            "--backend", "llm", "--llm-url", url, "--llm-batch-size", "3",
            "--llm-cache-dir", str(tmp_path / "cache"), "--llm-concurrency", "2"]
    assert main(argv) == 0
    out = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert out[2]["alt_text"] == rows[2]["alt_text"]  # failed: kept as it was
    assert out[0]["alt_text"] == rewrite(rows[0]["alt_text"])
    summary = json.loads((tmp_path / "out.summary.json").read_text())
    assert summary["failed_kept_original"] == 1 and summary["backend"]["failed"] == 1
    assert "1 failed and kept" in capsys.readouterr().out
    first = len(model.requests)
    assert main(argv) == 0  # rerun: only the failed caption is asked again
    assert len(model.requests) == first + 1


@pytest.mark.parametrize("content, n, expected", [
    ('["a", "b"]', 2, ["a", "b"]),
    ('Sure!\n```json\n["a", "b"]\n```', 2, ["a", "b"]),
    ('["a"]', 2, None),
    ('["a", ""]', 2, None),
    ("no json here", 1, None),
])
def test_parse_answer(content, n, expected):
    assert parse_answer(content, n) == expected


def test_chat_url():
    assert chat_url("http://h:1/v1") == "http://h:1/v1/chat/completions"
    assert chat_url("http://h:1") == "http://h:1/v1/chat/completions"
    assert chat_url("http://h:1/v1/chat/completions/") == "http://h:1/v1/chat/completions"
