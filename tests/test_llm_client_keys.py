"""API keys go only to endpoints configured for them, never over plain http off this machine.
The endpoint is a real HTTP server on 127.0.0.1 answering like an OpenAI-compatible one (the
hosted service cannot be reached from a test); it records the headers it was sent."""

from __future__ import annotations

import pytest

from affectgpt.llm_client import LLMCallError, complete_endpoint, key_endpoint_problem


def test_key_rules():
    assert key_endpoint_problem("https://api.openai.com/v1", "OPENAI_API_KEY") is None
    assert "plain http" in key_endpoint_problem("http://judge.example.org/v1", "VLLM_API_KEY")
    assert "plain http" in key_endpoint_problem("http://10.0.0.5:8000/v1", "OPENAI_API_KEY")
    assert key_endpoint_problem("http://127.0.0.1:8000/v1", "VLLM_API_KEY") is None  # bound by its config
    assert "configured only for https://api.openai.com/" in key_endpoint_problem(
        "https://evil.example.org/v1", "OPENAI_API_KEY")
    assert "not configured for this endpoint" in key_endpoint_problem(
        "https://llm.example.org/v1", "VLLM_API_KEY", bound_by_config=False)


def test_keys_reach_only_their_endpoints(chat_endpoint, monkeypatch):
    server = chat_endpoint(lambda body: "happy")
    url, seen = server.url, server.requests
    monkeypatch.setenv("VLLM_API_KEY", "vllm-secret")
    monkeypatch.setenv("OPENAI_API_KEY", "openai-secret")
    monkeypatch.delenv("OPENAI_API_KEY_ENDPOINTS", raising=False)
    assert complete_endpoint(url, "m", "hi", api_key_env="VLLM_API_KEY") == "happy"
    assert seen[-1]["headers"]["Authorization"] == "Bearer vllm-secret"
    with pytest.raises(LLMCallError, match="OPENAI_API_KEY is configured only for https://api.openai.com/"):
        complete_endpoint(url, "m", "hi", api_key_env="OPENAI_API_KEY")
    assert len(seen) == 1  # refused before anything was sent
    with pytest.raises(LLMCallError, match="plain http"):
        complete_endpoint("http://192.0.2.1:9/v1", "m", "hi", api_key_env="VLLM_API_KEY", timeout_s=1)
    monkeypatch.setenv("OPENAI_API_KEY_ENDPOINTS", f"https://api.openai.com/v1,{url}")
    assert complete_endpoint(url, "m", "hi", api_key_env="OPENAI_API_KEY") == "happy"
    assert seen[-1]["headers"]["Authorization"] == "Bearer openai-secret"
    assert complete_endpoint(url, "m", "hi") == "happy" and "Authorization" not in seen[-1]["headers"]
