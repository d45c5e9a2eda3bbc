"""Merger: the audio and visual clues plus the subtitle become one emotion description.

`template` (the offline default) is deterministic: it keeps each clue and closes with the
emotion words the clues and subtitle share most. `hf` / `endpoint` run the paper's "emotion
expert" prompt on a transformers model from a local path or an OpenAI-compatible server.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from typing import Protocol

from affectgpt.data.config import MergerConfig
from affectgpt.llm_client import complete_endpoint, complete_local

EXPERT_PROMPT = (
    "Please act as an expert in the field of emotions. We provide acoustic and visual clues that may be "
    "related to the character's emotional state, along with the original subtitle of the video. Please "
    "analyze which parts can infer the emotional state and explain the reasons. During the analysis, "
    "please integrate the textual, audio, and visual clues, and finish with the most likely emotions.\n"
    "Acoustic clue: {audio}\nVisual clue: {visual}\nSubtitle: \"{text}\"\nAnalysis:"
)


class Merger(Protocol):
    name: str
    version: str

    def merge(self, clues: dict[str, str]) -> str: ...


class TemplateMerger:
    """Clues in a fixed frame plus a conclusion from labels extracted per clue (votes across
    modalities; ties keep the order audio, visual, text)."""

    name = "template"
    version = "1"

    def __init__(self, extractor) -> None:
        self.extractor = extractor

    def merge(self, clues: dict[str, str]) -> str:
        votes: Counter[str] = Counter()
        first_seen: dict[str, int] = {}
        for modality in ("audio", "visual", "text"):
            for label in self.extractor.extract_labels(clues.get(modality) or ""):
                votes[label] += 1
                first_seen.setdefault(label, len(first_seen))
        ranked = sorted(votes, key=lambda label: (-votes[label], first_seen[label]))[:3]
        conclusion = (f"Taken together, the speaker most likely feels {_join(ranked)}."
                      if ranked else "Taken together, no single feeling stands out; the mood seems even.")
        return (f"Visual clues: {clues.get('visual', '').strip()} "
                f"Acoustic clues: {clues.get('audio', '').strip()} "
                f"The speaker says: \"{clues.get('text', '').strip()}\" {conclusion}")


class LLMMerger:
    """The emotion-expert prompt on a local transformers model or an OpenAI-compatible endpoint."""

    def __init__(self, config: MergerConfig) -> None:
        self.config = config
        self.name = config.kind
        target = config.model_path if config.kind == "hf" else f"{config.url}|{config.model}"
        if not target or target == "None|None":
            raise ValueError(f"merger kind {config.kind!r} needs "
                             f"{'model_path' if config.kind == 'hf' else 'url and model'} in the build config")
        self.version = hashlib.sha256(f"{target}|{EXPERT_PROMPT}".encode()).hexdigest()[:12]

    def merge(self, clues: dict[str, str]) -> str:
        prompt = EXPERT_PROMPT.format(audio=clues.get("audio", ""), visual=clues.get("visual", ""),
                                      text=clues.get("text", ""))
        if self.config.kind == "hf":
            return complete_local(self.config.model_path, prompt, self.config.max_new_tokens)
        return complete_endpoint(self.config.url, self.config.model, prompt, max_tokens=self.config.max_new_tokens,
                                 api_key_env=self.config.api_key_env)


def make_merger(config: MergerConfig, extractor) -> Merger:
    return TemplateMerger(extractor) if config.kind == "template" else LLMMerger(config)


def _join(words: list[str]) -> str:
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]
