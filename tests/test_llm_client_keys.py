"""API keys go only to endpoints configured for them, never over plain http off this machine.
The endpoint is a real HTTP server on 127.0.0.1 answering like an OpenAI-compatible one (the
hosted service cannot be reached from a test); it records the headers it was sent."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from affectgpt.llm_client import LLMCallError, complete_endpoint, key_endpoint_problem


@pytest.fixture()
def chat_server():
    seen: list[dict[str, str]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            seen.append(dict(self.headers))
            body = json.dumps({"choices": [{"message": {"content": "happy"}}]}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1", seen
    server.shutdown()
    server.server_close()


def test_key_rules():
    assert key_endpoint_problem("https://api.openai.com/v1", "OPENAI_API_KEY") is None
    assert "plain http" in key_endpoint_problem("http://judge.example.org/v1", "VLLM_API_KEY")
    assert "plain http" in key_endpoint_problem("http://10.0.0.5:8000/v1", "OPENAI_API_KEY")
    assert key_endpoint_problem("http://127.0.0.1:8000/v1", "VLLM_API_KEY") is None  # bound by its config
    assert "configured only for https://api.openai.com/" in key_endpoint_problem(
        "https://evil.example.org/v1", "OPENAI_API_KEY")
    assert "not configured for this endpoint" in key_endpoint_problem(
        "https://llm.example.org/v1", "VLLM_API_KEY", bound_by_config=False)


def test_keys_reach_only_their_endpoints(chat_server, monkeypatch):
    url, seen = chat_server
    monkeypatch.setenv("VLLM_API_KEY", "vllm-secret")
    monkeypatch.setenv("OPENAI_API_KEY", "openai-secret")
    monkeypatch.delenv("OPENAI_API_KEY_ENDPOINTS", raising=False)
    assert complete_endpoint(url, "m", "hi", api_key_env="VLLM_API_KEY") == "happy"
    assert seen[-1]["Authorization"] == "Bearer vllm-secret"
    with pytest.raises(LLMCallError, match="OPENAI_API_KEY is configured only for https://api.openai.com/"):
        complete_endpoint(url, "m", "hi", api_key_env="OPENAI_API_KEY")
    assert len(seen) == 1  # refused before anything was sent
    with pytest.raises(LLMCallError, match="plain http"):
        complete_endpoint("http://192.0.2.1:9/v1", "m", "hi", api_key_env="VLLM_API_KEY", timeout_s=1)
    monkeypatch.setenv("OPENAI_API_KEY_ENDPOINTS", f"https://api.openai.com/v1,{url}")
    assert complete_endpoint(url, "m", "hi", api_key_env="OPENAI_API_KEY") == "happy"
    assert seen[-1]["Authorization"] == "Bearer openai-secret"
    assert complete_endpoint(url, "m", "hi") == "happy" and "Authorization" not in seen[-1]
