"""The two ways affectgpt talks to a language model: a transformers model from a local path
(greedy, so a rebuild or a re-score writes the same text) and an OpenAI-compatible chat
endpoint (vLLM). The dataset builder's describers and merger and the MER-UniBench judge share
these, so there is one place to get decoding right."""

from __future__ import annotations

import os
from functools import lru_cache
from typing import Any

import requests


class LLMCallError(RuntimeError):
    """The model or endpoint did not answer usefully; the message names which and why."""


@lru_cache(maxsize=4)
def _local_model(model_path: str):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(model_path)
        model = AutoModelForCausalLM.from_pretrained(model_path)
    except (OSError, ValueError) as exc:
        raise LLMCallError(f"{model_path}: cannot load a transformers causal LM ({exc})") from None
    model.eval()
    return tokenizer, model


def complete_local(model_path: str, prompt: str, max_new_tokens: int = 64) -> str:
    """Greedy continuation of `prompt` by the model at `model_path` (chat template when it has one)."""
    import torch

    tokenizer, model = _local_model(str(model_path))
    if getattr(tokenizer, "chat_template", None):
        text = tokenizer.apply_chat_template([{"role": "user", "content": prompt}], tokenize=False,
                                             add_generation_prompt=True)
    else:
        text = prompt
    inputs = tokenizer(text, return_tensors="pt", truncation=True,
                       max_length=max(16, getattr(model.config, "max_position_embeddings", 512) - max_new_tokens))
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    with torch.no_grad():
        output = model.generate(**inputs, max_new_tokens=max_new_tokens, do_sample=False, pad_token_id=pad_id)
    return tokenizer.decode(output[0, inputs["input_ids"].shape[1]:], skip_special_tokens=True).strip()


def complete_endpoint(url: str, model: str, content: list[dict[str, Any]] | str, *, max_tokens: int = 128,
                      api_key_env: str | None = None, timeout_s: float = 60.0) -> str:
    """One chat completion from an OpenAI-compatible server at `url` (…/v1), temperature 0.
    `content` is a string or a list of content parts (text, image_url, input_audio)."""
    headers = {"Content-Type": "application/json"}
    if api_key_env:
        key = os.environ.get(api_key_env)
        if not key:
            raise LLMCallError(f"environment variable {api_key_env} (API key for {url}) is not set")
        headers["Authorization"] = f"Bearer {key}"
    payload = {"model": model, "messages": [{"role": "user", "content": content}],
               "max_tokens": max_tokens, "temperature": 0.0}
    endpoint = url.rstrip("/") + "/chat/completions"
    try:
        response = requests.post(endpoint, json=payload, headers=headers, timeout=timeout_s)
    except requests.RequestException as exc:
        raise LLMCallError(f"{endpoint}: unreachable ({exc})") from None
    if response.status_code != 200:
        raise LLMCallError(f"{endpoint}: HTTP {response.status_code}: {response.text[:200]}")
    try:
        return str(response.json()["choices"][0]["message"]["content"]).strip()
    except (ValueError, KeyError, IndexError, TypeError):
        raise LLMCallError(f"{endpoint}: answer is not an OpenAI chat completion: {response.text[:200]}") from None
