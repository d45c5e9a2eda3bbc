"""The two ways affectgpt talks to a language model: a transformers model from a local path
(greedy, so a rebuild or a re-score writes the same text) and an OpenAI-compatible chat
endpoint (vLLM). The dataset builder's describers and merger and the MER-UniBench judge share
these, so there is one place to get decoding right."""

from __future__ import annotations

import os
from functools import lru_cache
from typing import Any, Literal

import requests


class LLMCallError(RuntimeError):
    """The model or endpoint did not answer usefully; the message names which and why."""


def _load_pretrained(model_path: str, preprocessor_class, model_class, what: str):
    """(tokenizer or processor, model in eval mode) of a local checkpoint; a folder transformers
    cannot read is an LLMCallError naming it and `what` was expected there."""
    try:
        preprocessor = preprocessor_class.from_pretrained(model_path)
        model = model_class.from_pretrained(model_path)
    except (OSError, ValueError) as exc:
        raise LLMCallError(f"{model_path}: cannot load {what} ({exc})") from None
    model.eval()
    return preprocessor, model


@lru_cache(maxsize=4)
def _local_model(model_path: str):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    return _load_pretrained(model_path, AutoTokenizer, AutoModelForCausalLM, "a transformers causal LM")


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


LocalModelKind = Literal["text", "vision", "audio", "speech_seq2seq"]


def local_model_kind(model_path: str) -> LocalModelKind:
    """What a local checkpoint takes, read from its config (no weights loaded): a vision-language
    model (image-text-to-text, e.g. LLaVA), an audio-language model (a multimodal LM with an
    `audio_config`, e.g. Qwen2-Audio), a speech seq2seq model (e.g. Whisper) or a text-only LM."""
    from transformers import AutoConfig
    from transformers.models.auto import modeling_auto

    try:
        config = AutoConfig.from_pretrained(model_path)
    except (OSError, ValueError) as exc:
        raise LLMCallError(f"{model_path}: no readable transformers config.json ({exc})") from None
    model_type = getattr(config, "model_type", "")
    if model_type in modeling_auto.MODEL_FOR_IMAGE_TEXT_TO_TEXT_MAPPING_NAMES and hasattr(config, "vision_config"):
        return "vision"
    if model_type in modeling_auto.MODEL_FOR_MULTIMODAL_LM_MAPPING_NAMES and hasattr(config, "audio_config"):
        return "audio"
    if model_type in modeling_auto.MODEL_FOR_SPEECH_SEQ_2_SEQ_MAPPING_NAMES:
        return "speech_seq2seq"
    return "text"


@lru_cache(maxsize=2)
def _local_media_model(model_path: str):
    """(kind, processor, model) for a checkpoint that takes images or audio through its processor."""
    from transformers import (
        AutoModelForImageTextToText,
        AutoModelForMultimodalLM,
        AutoModelForSpeechSeq2Seq,
        AutoProcessor,
    )

    kind = local_model_kind(model_path)
    model_class = {"vision": AutoModelForImageTextToText, "audio": AutoModelForMultimodalLM,
                   "speech_seq2seq": AutoModelForSpeechSeq2Seq}.get(kind)
    if model_class is None:
        raise LLMCallError(f"{model_path}: a text-only model; it takes no images or audio (use complete_local)")
    processor, model = _load_pretrained(model_path, AutoProcessor, model_class,
                                        f"a transformers {kind} model with its processor")
    return kind, processor, model


def complete_local_media(model_path: str, prompt: str, *, images: list | None = None, audio=None,
                         sampling_rate_hz: int = 16000, max_new_tokens: int = 64) -> str:
    """Greedy answer of a local multimodal model to `prompt` about `images` (RGB uint8 arrays, for
    a vision-language model) or `audio` (float32 mono at `sampling_rate_hz`, for an audio model).
    The processor's chat template places the image/audio placeholders when it has one."""
    import torch

    kind, processor, model = _local_media_model(str(model_path))
    tokenizer = getattr(processor, "tokenizer", processor)
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    if kind == "speech_seq2seq":  # transcribes/answers from the audio alone; the prompt has no slot
        if audio is None:
            raise LLMCallError(f"{model_path}: a speech model needs audio")
        inputs = processor(audio=audio, sampling_rate=sampling_rate_hz, return_tensors="pt")
        with torch.no_grad():
            output = model.generate(**inputs, max_new_tokens=max_new_tokens, do_sample=False)
        return processor.batch_decode(output, skip_special_tokens=True)[0].strip()
    if kind == "vision":
        if not images:
            raise LLMCallError(f"{model_path}: a vision-language model needs at least one image")
        parts = [{"type": "image"} for _ in images]
        media_kwargs = {"images": list(images)}
    else:
        if audio is None:
            raise LLMCallError(f"{model_path}: an audio-language model needs audio")
        parts = [{"type": "audio"}]
        media_kwargs = {"audio": [audio], "sampling_rate": sampling_rate_hz}
    parts.append({"type": "text", "text": prompt})
    if getattr(processor, "chat_template", None):
        text = processor.apply_chat_template([{"role": "user", "content": parts}], tokenize=False,
                                             add_generation_prompt=True)
    elif kind == "vision":
        text = processor.image_token * len(images) + "\n" + prompt
    else:
        text = processor.audio_bos_token + processor.audio_token + processor.audio_eos_token + prompt
    inputs = processor(text=[text], return_tensors="pt", **media_kwargs)
    inputs.pop("num_audio_tokens", None)
    with torch.no_grad():
        output = model.generate(**inputs, max_new_tokens=max_new_tokens, do_sample=False, pad_token_id=pad_id)
    return tokenizer.decode(output[0, inputs["input_ids"].shape[1]:], skip_special_tokens=True).strip()


KEY_ENDPOINTS_SUFFIX = "_ENDPOINTS"
DEFAULT_KEY_ENDPOINTS = {"OPENAI_API_KEY": ("https://api.openai.com/",)}


def _is_loopback(host: str) -> bool:
    import ipaddress

    if host in ("localhost", "localhost.localdomain"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def key_endpoint_problem(url: str, api_key_env: str, *, bound_by_config: bool = True) -> str | None:
    """Why the key in `api_key_env` must not go to `url`, or None when it may.

    A key travels only over https, or plain http to this machine (loopback), and only to an
    endpoint configured for it: a prefix listed in `<api_key_env>_ENDPOINTS` (comma-separated)
    when that is set, else `api.openai.com` for OPENAI_API_KEY, else the endpoint a config names
    together with the key (`bound_by_config`)."""
    from urllib.parse import urlparse

    parsed = urlparse(url)
    host = parsed.hostname or ""
    if parsed.scheme == "http" and not _is_loopback(host):
        return (f"{url}: refusing to send {api_key_env} over plain http to {host}; use https "
                "(or a loopback address for a local server)")
    if parsed.scheme not in ("http", "https"):
        return f"{url}: unsupported scheme {parsed.scheme!r} for an API endpoint"
    listed = os.environ.get(api_key_env + KEY_ENDPOINTS_SUFFIX)
    allowed = tuple(p.strip() for p in listed.split(",") if p.strip()) if listed else DEFAULT_KEY_ENDPOINTS.get(api_key_env)
    if allowed is None:
        return None if bound_by_config else (
            f"{url}: {api_key_env} is not configured for this endpoint; list it in {api_key_env}{KEY_ENDPOINTS_SUFFIX}")
    normalized = url.rstrip("/") + "/"
    if not any(normalized.startswith(prefix.rstrip("/") + "/") for prefix in allowed):
        return (f"{url}: {api_key_env} is configured only for {', '.join(allowed)}; add this endpoint to "
                f"{api_key_env}{KEY_ENDPOINTS_SUFFIX} to send the key there")
    return None


def _is_json(response) -> bool:
    try:
        response.json()
    except ValueError:
        return False
    return True


def complete_endpoint(url: str, model: str, content: list[dict[str, Any]] | str, *, max_tokens: int = 128,
                      api_key_env: str | None = None, timeout_s: float = 60.0) -> str:
    """One chat completion from an OpenAI-compatible server at `url` (…/v1), temperature 0.
    `content` is a string or a list of content parts (text, image_url, input_audio). A key named
    by `api_key_env` is sent only where `key_endpoint_problem` allows; otherwise nothing is sent."""
    headers = {"Content-Type": "application/json"}
    if api_key_env:
        problem = key_endpoint_problem(url, api_key_env)
        if problem:
            raise LLMCallError(problem)
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
        from affectgpt.service_errors import service_error

        known = service_error("OpenAI-compatible API", endpoint, exc, "check --llm-endpoint")
        raise LLMCallError(str(known) if known else f"{endpoint}: unreachable ({type(exc).__name__})") from None
    if response.status_code == 404 and not _is_json(response):  # a server's 404 page, not the API's answer
        from affectgpt.service_errors import answered

        raise LLMCallError(str(answered("OpenAI-compatible API", endpoint, 404, "an OpenAI-compatible base URL ends "
                                        "in /v1; check --llm-endpoint")))
    if response.status_code != 200:
        raise LLMCallError(f"{endpoint}: HTTP {response.status_code}: {response.text[:200]}")
    try:
        return str(response.json()["choices"][0]["message"]["content"]).strip()
    except (ValueError, KeyError, IndexError, TypeError):
        raise LLMCallError(f"{endpoint}: answer is not an OpenAI chat completion: {response.text[:200]}") from None
