"""An OpenAI-compatible chat-completions server on 127.0.0.1. It stands in for a vLLM (or
hosted) model server, which cannot run in tests; the client code under test is the real one."""

from __future__ import annotations

from collections.abc import Callable

from testkit.http import LocalServer, QuietHandler, read_json, send_body


class ChatEndpoint(LocalServer):
    """`answer(request_body) -> str` makes each reply; every request is kept in `requests`
    (path, Authorization header, all headers, JSON body)."""

    def __init__(self, answer: Callable[[dict], str]) -> None:
        endpoint = self
        self.answer = answer
        self.requests: list[dict] = []

        class Handler(QuietHandler):
            def do_POST(self):
                body = read_json(self)
                endpoint.requests.append({"path": self.path, "auth": self.headers.get("Authorization"),
                                          "headers": dict(self.headers), "body": body})
                send_body(self, 200, {"choices": [{"message": {"role": "assistant",
                                                               "content": endpoint.answer(body)}}]})

        super().__init__(Handler)
        self.url = f"http://127.0.0.1:{self.port}/v1"
