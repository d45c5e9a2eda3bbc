"""Label extraction from free-form model output, pluggable.

MER-UniBench scores emotion *labels*, while AffectGPT answers in sentences. An extractor turns
a sentence into a label list and a label list into a sentiment. `lexicon` (default) is a fast
rule-based matcher on the wheel vocabulary; `llm` runs the paper's two prompts on a local
transformers model or an OpenAI-compatible endpoint, greedily, with a disk cache.

    from affectgpt.bench.extract import get_extractor
    extractor = get_extractor("lexicon")
    extractor.extract_labels("He is not angry, just a little worried.")   # ["worried"]
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

EXTRACTORS: tuple[str, ...] = ("lexicon", "llm")


@runtime_checkable
class LabelExtractor(Protocol):
    name: str
    version: str

    @property
    def prompt_hash(self) -> str: ...

    def extract_labels(self, text: str) -> list[str]: ...

    def extract_sentiment(self, text_or_labels) -> str: ...

    def info(self) -> dict[str, str]: ...


def get_extractor(name: str = "lexicon", **options) -> LabelExtractor:
    """`lexicon` (options: wheels_version, negation) or `llm` (options: model=PATH or
    endpoint=URL, endpoint_model, max_new_tokens, cache_dir)."""
    if name == "lexicon":
        from affectgpt.bench.extract.lexicon import LexiconExtractor

        return LexiconExtractor(**options)
    if name == "llm":
        from affectgpt.bench.extract.llm import LLMExtractor

        return LLMExtractor(**options)
    raise ValueError(f"unknown extractor {name!r}; use one of {', '.join(EXTRACTORS)}")


__all__ = ["EXTRACTORS", "LabelExtractor", "get_extractor"]
