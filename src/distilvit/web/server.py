"""A static file server for the browser demo and the browser tests (standard library only).

    with StaticServer({"/": WEB_DIR, "/ort/": ort_dist, "/model/": exported}) as server:
        print(server.url)            # http://127.0.0.1:<free port>
        ...
        server.requests              # what was served: path, status, bytes

Why not `python -m http.server`: threaded WASM in the browser needs the page to be
cross-origin isolated, which takes two response headers (COOP `same-origin`, COEP
`require-corp`); the page, the JavaScript, onnxruntime-web and the model live in different
folders (URL prefixes mounted on folders); and the tests need to know which files were
actually fetched (the Cache API check) and to emulate the Hugging Face Hub's redirects.
"""

from __future__ import annotations

import email.utils
import logging
import mimetypes
import os
import threading
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

logger = logging.getLogger(__name__)

WEB_DIR = Path(__file__).resolve().parent  # the page and the ES module (package data)

# Headers that make a page cross-origin isolated (`self.crossOriginIsolated`): the condition
# for SharedArrayBuffer, hence for onnxruntime-web's WASM threads.
ISOLATION_HEADERS = {"Cross-Origin-Opener-Policy": "same-origin",
                     "Cross-Origin-Embedder-Policy": "require-corp"}
CONTENT_TYPES = {".js": "text/javascript", ".mjs": "text/javascript", ".wasm": "application/wasm",
                 ".json": "application/json", ".onnx": "application/octet-stream",
                 ".html": "text/html; charset=utf-8", ".css": "text/css", ".map": "application/json"}
CHUNK = 1 << 20


@dataclass(frozen=True)
class ServedRequest:
    method: str
    path: str
    status: int
    bytes: int


class StaticServer:
    """Serve folders under URL prefixes on `host`, in a background thread or in the foreground.

    `mounts` maps a URL prefix ("/", "/ort/", "/hub/org/name/resolve/main/") to a folder; the
    longest matching prefix wins; a folder's URL serves its `index` file. `redirects` maps a
    prefix to another (absolute or root-relative) prefix and answers 302, as the Hub's
    `resolve` URLs do. With `isolated` every response carries the COOP/COEP headers.
    Responses say `Cache-Control: no-cache` (revalidated with Last-Modified), so the
    browser's HTTP cache never serves a stale file without asking; the web module itself
    fetches model files with `no-store` and keeps them in the Cache API.
    """

    def __init__(self, mounts: dict[str, str | Path], host: str = "127.0.0.1", port: int = 0,
                 isolated: bool = True, redirects: dict[str, str] | None = None,
                 index: str = "index.html"):
        self.mounts = {_prefix(p): Path(folder).resolve() for p, folder in mounts.items()}
        for prefix, folder in self.mounts.items():
            if not folder.is_dir():
                raise FileNotFoundError(f"{folder}: no such folder to serve at {prefix}")
        self.redirects = {_prefix(p): target for p, target in (redirects or {}).items()}
        self.isolated = isolated
        self.index = index
        self.requests: list[ServedRequest] = []
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer((host, port), _handler_class(self))
        self._httpd.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def resolve(self, url_path: str) -> Path | None:
        """The file a URL path maps to, or None (outside every mount, or escaping it)."""
        for prefix in sorted(self.mounts, key=len, reverse=True):
            if url_path.startswith(prefix) or url_path + "/" == prefix:
                root = self.mounts[prefix]
                target = (root / url_path[len(prefix):]).resolve()
                if target != root and root not in target.parents:
                    return None
                return target / self.index if target.is_dir() else target
        return None

    def redirect(self, url_path: str) -> str | None:
        for prefix in sorted(self.redirects, key=len, reverse=True):
            if url_path.startswith(prefix):
                return self.redirects[prefix] + url_path[len(prefix):]
        return None

    def record(self, request: ServedRequest) -> None:
        with self._lock:
            self.requests.append(request)

    def served(self, suffix: str = "", method: str = "GET") -> list[ServedRequest]:
        """Requests whose path ends with `suffix` that sent a body (status 200)."""
        with self._lock:
            return [r for r in self.requests if r.path.endswith(suffix) and r.status == 200
                    and r.method == method]

    def clear_log(self) -> None:
        with self._lock:
            self.requests.clear()

    def start(self) -> StaticServer:
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True,
                                        name="distilvit-static-server")
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        """Serve in the foreground until interrupted (the `distilvit demo` command)."""
        try:
            self._httpd.serve_forever()
        finally:
            self._httpd.server_close()

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> StaticServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def _prefix(prefix: str) -> str:
    prefix = "/" + prefix.strip("/")
    return prefix if prefix == "/" else prefix + "/"


def content_type(path: Path) -> str:
    return CONTENT_TYPES.get(path.suffix.lower()) or (
        mimetypes.guess_type(path.name)[0] or "application/octet-stream")


def _handler_class(server: StaticServer) -> type[BaseHTTPRequestHandler]:
    class Handler(_Handler):
        static = server

    return Handler


class _Handler(BaseHTTPRequestHandler):
    static: StaticServer
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        self._respond(send_body=True)

    def do_HEAD(self) -> None:  # noqa: N802
        self._respond(send_body=False)

    def log_message(self, format: str, *args) -> None:  # noqa: A002 (signature of the base)
        logger.debug("%s %s", self.address_string(), format % args)

    def end_headers(self) -> None:
        if self.static.isolated:
            for name, value in ISOLATION_HEADERS.items():
                self.send_header(name, value)
        super().end_headers()

    def _respond(self, send_body: bool) -> None:
        path = unquote(urlsplit(self.path).path)
        target = self.static.redirect(path)
        if target is not None:
            return self._empty(HTTPStatus.FOUND, path, {"Location": target})
        file = self.static.resolve(path)
        if file is None or not file.is_file():
            return self._empty(HTTPStatus.NOT_FOUND, path)
        stat = file.stat()
        modified = email.utils.formatdate(stat.st_mtime, usegmt=True)
        since = self.headers.get("If-Modified-Since")
        if since and _not_newer(stat.st_mtime, since):
            return self._empty(HTTPStatus.NOT_MODIFIED, path, {"Last-Modified": modified})
        self.send_response(HTTPStatus.OK)
        self.send_header("Content-Type", content_type(file))
        self.send_header("Content-Length", str(stat.st_size))
        self.send_header("Last-Modified", modified)
        self.send_header("Cache-Control", "no-cache")
        self.end_headers()
        sent = self._send_file(file) if send_body else 0
        self.static.record(ServedRequest(self.command, path, HTTPStatus.OK, sent))

    def _send_file(self, file: Path) -> int:
        sent = 0
        try:
            with file.open("rb") as handle:
                while chunk := handle.read(CHUNK):
                    self.wfile.write(chunk)
                    sent += len(chunk)
        except (BrokenPipeError, ConnectionResetError):
            logger.debug("client closed the connection during %s", file)
        return sent

    def _empty(self, status: HTTPStatus, path: str, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", "0")
        self.end_headers()
        self.static.record(ServedRequest(self.command, path, int(status), 0))


def _not_newer(mtime: float, since: str) -> bool:
    try:
        stamp = email.utils.parsedate_to_datetime(since).timestamp()
    except (TypeError, ValueError):
        return False
    return int(mtime) <= stamp


def find_ort_dist(start: Path | None = None) -> Path | None:
    """onnxruntime-web's `dist` folder: $DISTILVIT_ORT_DIR, else node_modules above the current
    folder or above this package (a repository checkout)."""
    env = os.environ.get("DISTILVIT_ORT_DIR")
    if env:
        return Path(env) if (Path(env) / "ort.min.mjs").is_file() else None
    for base in (start or Path.cwd(), WEB_DIR):
        for folder in (base, *base.parents):
            dist = folder / "node_modules" / "onnxruntime-web" / "dist"
            if (dist / "ort.min.mjs").is_file():
                return dist
    return None
