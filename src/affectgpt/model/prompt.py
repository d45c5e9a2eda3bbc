"""The AffectGPT prompt, the hybrid training target and the token layout with loss masking.

Plain-text `###Human: ... ###Assistant: ` template (the paper's). Placeholders stand where the
modality tokens go; the loss covers only the answer, its closing `###` and eos. The prompt is
tokenised in three pieces (head, subtitle, tail) so an over-long sample can lose subtitle tokens
first, and every truncation is counted rather than hidden.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from transformers import PreTrainedTokenizerBase

PromptType = Literal["description", "ov"]
PROMPT_TYPES: tuple[str, ...] = ("description", "ov")
SEPARATOR = "###"
IGNORE_INDEX = -100

PLACEHOLDERS: dict[str, str] = {
    "multi": "<MultiHere>",
    "audio": "<AudioHere>",
    "face": "<FaceHere>",
    "frame": "<FrameHere>",
}
_WRAPPERS = {"multi": "Multi", "audio": "Audio", "face": "Face", "frame": "Frame"}

QUESTIONS: dict[str, str] = {
    "description": "Please infer the person's emotional state and provide your reasoning process.",
    "ov": "Please recognize all possible emotional states of the character.",
}


def ov_answer(labels: Sequence[str]) -> str:
    """The open-vocabulary target sentence of the output hybrid."""
    return f"The character's emotional state is {', '.join(labels)}."


def prompt_pieces(prompt_type: str, modalities: Sequence[str], tokens_per_modality: dict[str, int]) -> tuple[str, str]:
    """(head, tail) around the subtitle. `tokens_per_modality` repeats a placeholder when a
    modality brings several tokens (the Q-Former's K queries)."""
    if prompt_type not in QUESTIONS:
        raise ValueError(f"unknown prompt type {prompt_type!r}; use one of {', '.join(QUESTIONS)}")
    parts = []
    for name in modalities:
        wrapper = _WRAPPERS[name]
        parts.append(f"<{wrapper}>{PLACEHOLDERS[name] * tokens_per_modality.get(name, 1)}</{wrapper}>")
    head = f"{SEPARATOR}Human: {' '.join(parts)} The subtitle of this video is: <Subtitle>"
    tail = (f"</Subtitle>. Now answer my question based on what you have heard, seen and read. "
            f"{QUESTIONS[prompt_type]} {SEPARATOR}Assistant: ")
    return head, tail


def prompt_corpus() -> list[str]:
    """Template text for training an in-process tokenizer, so the prompt is tokenised compactly."""
    lines = []
    for prompt_type in QUESTIONS:
        head, tail = prompt_pieces(prompt_type, list(PLACEHOLDERS), {})
        lines += [head, tail, ov_answer(["happy", "sad"]) + SEPARATOR]
    return lines


def choose_prompt_type(seed: int, epoch: int, clip_id: str, has_description: bool, has_labels: bool) -> str:
    """The output hybrid: a uniform draw between the description and the OV target, keyed on
    (seed, epoch, clip) so the draw does not depend on batch order and survives a resume."""
    if has_description and has_labels:
        return random.Random(f"{seed}:{epoch}:{clip_id}").choice(PROMPT_TYPES)
    if has_description:
        return "description"
    if has_labels:
        return "ov"
    raise ValueError(f"clip {clip_id}: neither a description nor ov_labels to train on")


def target_text(prompt_type: str, description: str | None, labels: Sequence[str] | None) -> str:
    if prompt_type == "description":
        if not description:
            raise ValueError("description target requested but the record has no description")
        return description.strip()
    if not labels:
        raise ValueError("ov target requested but the record has no ov_labels")
    return ov_answer(labels)


@dataclass
class EncodedSample:
    input_ids: list[int]
    labels: list[int]
    subtitle_truncated: bool = False
    answer_truncated: bool = False
    notes: list[str] = field(default_factory=list)


class PromptEncoder:
    """Turns (subtitle, prompt type, answer) into token ids and loss labels for one model."""

    def __init__(self, tokenizer: PreTrainedTokenizerBase, modalities: Sequence[str],
                 tokens_per_modality: dict[str, int], max_length: int) -> None:
        self.tokenizer = tokenizer
        self.modalities = list(modalities)
        self.tokens_per_modality = dict(tokens_per_modality)
        self.max_length = max_length
        self._pieces = {
            prompt_type: tuple(self._ids(text) for text in prompt_pieces(prompt_type, self.modalities,
                                                                        self.tokens_per_modality))
            for prompt_type in QUESTIONS
        }

    def _ids(self, text: str) -> list[int]:
        return list(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def prompt_ids(self, subtitle: str, prompt_type: str, budget: int | None = None) -> tuple[list[int], bool]:
        """Prompt ids with the subtitle cut to fit `budget` tokens (default max_length)."""
        budget = self.max_length if budget is None else budget
        head, tail = self._pieces[prompt_type]
        room = budget - len(head) - len(tail)
        if room < 0:
            raise ValueError(f"prompt without subtitle is {len(head) + len(tail)} tokens, over max_length "
                             f"{self.max_length}; raise train.max_length")
        subtitle_ids = self._ids(subtitle.strip()) if subtitle else []
        truncated = len(subtitle_ids) > room
        return head + subtitle_ids[:room] + tail, truncated

    def encode_training(self, subtitle: str, prompt_type: str, answer: str) -> EncodedSample:
        """Loss only on answer + `###` + eos. Over max_length: shorten the subtitle first (keeping
        at least its first 16 tokens), then the answer; both are flagged for counting."""
        answer_ids = self._ids(answer + SEPARATOR) + [self.tokenizer.eos_token_id]
        head, tail = self._pieces[prompt_type]
        subtitle_ids = self._ids(subtitle.strip()) if subtitle else []
        full = len(head) + len(subtitle_ids) + len(tail) + len(answer_ids)
        if full <= self.max_length:
            prompt, subtitle_cut = head + subtitle_ids + tail, False
        else:
            keep_subtitle = max(min(16, len(subtitle_ids)), self.max_length - len(head) - len(tail) - len(answer_ids))
            prompt, subtitle_cut = self.prompt_ids(subtitle, prompt_type, len(head) + len(tail) + keep_subtitle)
        answer_room = self.max_length - len(prompt)
        if answer_room <= 0:
            raise ValueError(f"prompt alone is {len(prompt)} tokens, no room for an answer within max_length "
                             f"{self.max_length}; raise train.max_length")
        answer_cut = len(answer_ids) > answer_room
        answer_ids = answer_ids[:answer_room]
        return EncodedSample(
            input_ids=prompt + answer_ids,
            labels=[IGNORE_INDEX] * len(prompt) + answer_ids,
            subtitle_truncated=subtitle_cut,
            answer_truncated=answer_cut,
        )
