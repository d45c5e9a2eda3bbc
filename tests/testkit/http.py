"""HTTP pieces of the stand-in servers (a Kubernetes API server, the KFP API, an OpenAI-compatible
chat endpoint): they answer different APIs, but read and reply the same way."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


def read_json(handler: BaseHTTPRequestHandler) -> Any:
    """The request's JSON body, or None when it has none."""
    length = int(handler.headers.get("Content-Length") or 0)
    return json.loads(handler.rfile.read(length)) if length else None


def send_body(handler: BaseHTTPRequestHandler, code: int, payload: Any, content_type: str = "application/json") -> None:
    """One reply: `payload` as JSON (bytes go out as they are), with its length, so clients that
    keep the connection alive read exactly one answer."""
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    handler.send_response(code)
    handler.send_header("Content-Type", content_type)
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    handler.wfile.write(body)


class QuietHandler(BaseHTTPRequestHandler):
    """A handler that keeps the test output clean (no access log on stderr)."""

    def log_message(self, *args) -> None:
        pass


class LocalServer:
    """A ThreadingHTTPServer on 127.0.0.1 (a free port) serving in a daemon thread."""

    def __init__(self, handler: type[BaseHTTPRequestHandler]) -> None:
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
