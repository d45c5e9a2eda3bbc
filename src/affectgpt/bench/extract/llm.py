"""LLM label extraction with the AffectGPT paper's two judge prompts.

Prompt 1 turns a description into an emotion list, prompt 2 turns that list into positive /
negative / neutral. The judge is a transformers causal LM loaded from a local path, or any
OpenAI-compatible chat endpoint (vLLM, TGI, a hosted API). Decoding is greedy (the original
scorer sampled at temperature 0.7, which made scores drift between runs) and every answer is
cached on disk keyed by (text hash, model id, prompt version).

    extractor = get_extractor("llm", model="/models/Qwen2.5-7B-Instruct")
    extractor = get_extractor("llm", endpoint="http://127.0.0.1:8000/v1", endpoint_model="qwen2.5")
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from affectgpt.bench.extract.cache import ExtractionCache
from affectgpt.bench.parsing import official_string_to_list
from affectgpt.errors import BadInput
from affectgpt.llm_client import LLMCallError, complete_endpoint, complete_local, key_endpoint_problem
from affectgpt.manifest import hash_checkpoint
from affectgpt.paths import workspace_dir

PROMPT_VERSION = "affectgpt-v1"

# The two prompts of the AffectGPT evaluation (reason -> open-vocabulary labels; labels ->
# sentiment), whitespace normalised.
LABELS_PROMPT = (
    "Please assume the role of an expert in the field of emotions. We provide clues that may be "
    "related to the emotions of the characters. Based on the provided clues, please identify the "
    "emotional states of the main character. The main character is the one with the most detailed "
    "clues. Please separate different emotional categories with commas and output only the clearly "
    "identifiable emotional categories in a list format. If none are identified, please output an "
    "empty list. Input: We cannot recognize his emotional state; Output: [] Input: His emotional "
    "state is happy, sad, and angry; Output: [happy, sad, angry] Input: {text}; Output: "
)
SENTIMENT_PROMPT = (
    "Please act as an expert in the field of emotions. We provide a few words to describe the "
    "emotions of a character. Please choose the most likely sentiment from the given candidates: "
    "[positive, negative, neutral] Please direct output answer without analyzing process. "
    "Input: [joyful]; Output: positive Input: []; Output: neutral Input: {text}; Output: "
)
_PREFIXES = ("输入", "输出", "翻译", "output", "Output", "input", "Input")


def postprocess_answer(answer: str) -> str:
    """The official clean-up of a judge answer: drop echoed "Output:"-style prefixes and newlines."""
    answer = answer.strip()
    for prefix in _PREFIXES:
        answer = answer.removeprefix(prefix)
    answer = answer.strip()
    for colon in (":", "："):
        answer = answer.removeprefix(colon)
    return answer.strip().replace("\n", "").strip()


class ExtractionError(BadInput, RuntimeError):
    """The judge could not be loaded or reached; the message says which and what to do."""


class LLMExtractor:
    name = "llm"
    version = PROMPT_VERSION

    def __init__(
        self,
        model: str | Path | None = None,
        endpoint: str | None = None,
        endpoint_model: str | None = None,
        api_key_env: str = "OPENAI_API_KEY",
        max_new_tokens: int = 64,
        cache_dir: str | Path | None = None,
        timeout_s: float = 120.0,
    ):
        if (model is None) == (endpoint is None):
            raise ExtractionError("llm extractor: give exactly one of model=LOCAL_PATH or endpoint=URL")
        self.max_new_tokens = max_new_tokens
        self.timeout_s = timeout_s
        self.endpoint = endpoint.rstrip("/") if endpoint else None
        self.endpoint_model = endpoint_model or "default"
        self.api_key_env = api_key_env
        self.model_path = Path(model).expanduser().resolve() if model is not None else None
        if self.model_path is not None and not (self.model_path / "config.json").is_file():
            raise ExtractionError(f"{self.model_path}: no config.json; pass a transformers model folder")
        self.model_id = self._model_id()
        self.cache = ExtractionCache(Path(cache_dir or workspace_dir() / "cache") / "llm-extract.sqlite")
        self.generated = 0  # judge calls actually made (cache misses)

    @property
    def prompt_hash(self) -> str:
        return hashlib.sha256((LABELS_PROMPT + "\0" + SENTIMENT_PROMPT).encode()).hexdigest()[:16]

    def info(self) -> dict[str, str]:
        return {"name": self.name, "version": self.version, "prompt_hash": self.prompt_hash, "model_id": self.model_id}

    def _model_id(self) -> str:
        """Names the judge precisely enough that a cached answer is never reused for another one:
        a local model by folder name plus the content hash of its config, tokenizer and weights
        (one changed weight is another judge). An endpoint is known only by its served model
        name and URL: serve a changed model under a new name."""
        if self.endpoint:
            return f"{self.endpoint_model}@{self.endpoint}|greedy|{self.max_new_tokens}"
        return f"{self.model_path.name}@{hash_checkpoint(self.model_path)[:16]}|greedy|{self.max_new_tokens}"

    # -- judge calls ----------------------------------------------------------------------
    def _ask(self, task: str, prompt_template: str, text: str) -> str:
        cached = self.cache.get(task, text, self.model_id, PROMPT_VERSION)
        if cached is not None:
            return cached
        prompt = prompt_template.format(text=text)
        answer = self._complete_endpoint(prompt) if self.endpoint else self._complete_local(prompt)
        answer = postprocess_answer(answer)
        self.generated += 1
        self.cache.put(task, text, self.model_id, PROMPT_VERSION, answer)
        return answer

    def _complete_local(self, prompt: str) -> str:
        try:
            return complete_local(str(self.model_path), prompt, max_new_tokens=self.max_new_tokens)
        except LLMCallError as exc:
            raise ExtractionError(f"judge model: {exc}") from exc

    def _complete_endpoint(self, prompt: str) -> str:
        # The key is optional here (a local vLLM judge usually runs without one), and it goes only
        # to an endpoint configured for it (llm_client.key_endpoint_problem); elsewhere none is sent.
        key_env = (self.api_key_env if os.environ.get(self.api_key_env)
                   and key_endpoint_problem(self.endpoint, self.api_key_env, bound_by_config=False) is None else None)
        try:
            return complete_endpoint(self.endpoint, self.endpoint_model, prompt, max_tokens=self.max_new_tokens,
                                     api_key_env=key_env, timeout_s=self.timeout_s)
        except LLMCallError as exc:
            raise ExtractionError(f"judge endpoint: {exc}") from exc

    # -- LabelExtractor -------------------------------------------------------------------
    def extract_labels(self, text: str) -> list[str]:
        if not isinstance(text, str) or not text.strip():
            return []
        answer = self._ask("labels", LABELS_PROMPT, text)
        return [label.lower() for label in official_string_to_list(answer)]

    def extract_sentiment(self, text_or_labels) -> str:
        """Runs prompt 2 on a label list; a free text goes through prompt 1 first. The answer is
        returned as the judge gave it (the official scorer compares it to "positive" exactly)."""
        if isinstance(text_or_labels, str) and not text_or_labels.lstrip().startswith("["):
            labels = self.extract_labels(text_or_labels)
        else:
            labels = official_string_to_list(text_or_labels)
        return self._ask("sentiment", SENTIMENT_PROMPT, "[" + ", ".join(labels) + "]")
