"""The AffectGPT prompt, the hybrid training target and the token layout with loss masking.

The prompt is the official one, word for word (upstream `get_prompt_for_multimodal`, branch
`multiface_audio_face_text` for the paper's modalities), and it is tokenised as one string, so
BPE merges at the tag boundaries (`<Subtitle>{s}</Subtitle>`, `###Assistant: `) are the ones
the released weights saw. Each placeholder is written as many times as embeddings are spliced
there. The loss covers only the answer, its closing `###` and eos. Training prepends the
tokenizer's bos as upstream does and inference does not, unless `prompt.bos_at_inference`
removes that mismatch. An over-long sample loses subtitle tokens first, then answer tokens,
and every truncation is counted rather than hidden.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:  # annotations only: printing a prompt needs no transformers (nor torch)
    from transformers import PreTrainedTokenizerBase

PromptType = Literal["description", "ov"]
PROMPT_TYPES: tuple[str, ...] = ("description", "ov")
SEPARATOR = "###"
IGNORE_INDEX = -100
EMPTY_LABELS_AS = "neutral"  # upstream mercaptionplus_dataset: an empty OV label list trains as neutral

PLACEHOLDERS: dict[str, str] = {
    "multi": "<MultiHere>",
    "audio": "<AudioHere>",
    "face": "<FaceHere>",
    "frame": "<FrameHere>",
}
# Upstream sentences per modality, in the order upstream writes them (multi, audio, face, frame).
_SENTENCES: dict[str, str] = {
    "multi": "The audio and video merged info is: <Multi>{tokens}</Multi>. ",
    "audio": "The audio content is as follows: <Audio>{tokens}</Audio>. ",
    "face": "Meanwhile, we uniformly sample raw frames from the video and extract faces from these frames: "
            "<Video>{tokens}</Video>. ",
    "frame": "Meanwhile, we uniformly sample raw frames from the video: <Video>{tokens}</Video>. ",
}
_TAIL = ("The subtitle of this video is: <Subtitle>{subtitle}</Subtitle>. "
         "Now, please answer my question based on all the provided information. {question} ###Assistant: ")

QUESTIONS: dict[str, str] = {
    "description": "Please infer the person's emotional state and provide your reasoning process.",
    "ov": "Please recognize all possible emotional states of the character.",
}


def ov_answer(labels: Sequence[str]) -> str:
    """The open-vocabulary target sentence of the output hybrid (empty list -> `neutral`)."""
    return f"The character's emotional state is {', '.join(labels) if labels else EMPTY_LABELS_AS}."


def prompt_text(subtitle: str, prompt_type: str, modalities: Sequence[str],
                tokens_per_modality: dict[str, int]) -> str:
    """The exact prompt string the model receives, each placeholder repeated as many times as
    embeddings are spliced there (the Q-Former's K queries, 1 otherwise)."""
    if prompt_type not in QUESTIONS:
        raise ValueError(f"unknown prompt type {prompt_type!r}; use one of {', '.join(QUESTIONS)}")
    unknown = [name for name in modalities if name not in _SENTENCES]
    if unknown:
        raise ValueError(f"unknown prompt modalities {unknown}; use {', '.join(_SENTENCES)}")
    body = "".join(_SENTENCES[name].format(tokens=PLACEHOLDERS[name] * tokens_per_modality.get(name, 1))
                   for name in _SENTENCES if name in modalities)
    return f"{SEPARATOR}Human: " + body + _TAIL.format(subtitle=subtitle, question=QUESTIONS[prompt_type])


def prompt_corpus() -> list[str]:
    """Template text for training an in-process tokenizer, so the prompt is tokenised compactly."""
    lines = []
    for prompt_type in QUESTIONS:
        lines += [prompt_text("", prompt_type, list(PLACEHOLDERS), {}), ov_answer(["happy", "sad"]) + SEPARATOR]
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
        return description  # unstripped, as upstream's func_get_qa_description
    return ov_answer(labels or [])


@dataclass
class EncodedSample:
    input_ids: list[int]
    labels: list[int]
    subtitle_truncated: bool = False
    answer_truncated: bool = False
    notes: list[str] = field(default_factory=list)


class PromptEncoder:
    """Turns (subtitle, prompt type, answer) into token ids and loss labels for one model.

    `bos_train` prepends the tokenizer's bos to training samples (upstream's collater does);
    `bos_infer` does the same at inference (upstream does not: a named option). `strip_text`
    strips subtitles and answers of surrounding whitespace (upstream uses them as written);
    `length_cap` says whether bos and eos count against max_length (upstream: they do not)."""

    def __init__(self, tokenizer: PreTrainedTokenizerBase, modalities: Sequence[str],
                 tokens_per_modality: dict[str, int], max_length: int, *, bos_train: bool = True,
                 bos_infer: bool = False, strip_text: bool = False, length_cap: str = "text") -> None:
        if length_cap not in ("text", "with-specials"):
            raise ValueError(f"length_cap must be 'text' or 'with-specials', got {length_cap!r}")
        self.tokenizer = tokenizer
        self.strip_text = strip_text
        self.length_cap = length_cap
        self.modalities = list(modalities)
        self.tokens_per_modality = dict(tokens_per_modality)
        self.max_length = max_length
        bos = tokenizer.bos_token_id
        self._bos_train = [int(bos)] if bos_train and bos is not None else []
        self._bos_infer = [int(bos)] if bos_infer and bos is not None else []

    def _ids(self, text: str) -> list[int]:
        return list(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def text(self, subtitle: str, prompt_type: str) -> str:
        return prompt_text(subtitle, prompt_type, self.modalities, self.tokens_per_modality)

    def _fit(self, subtitle: str, prompt_type: str, budget: int) -> tuple[list[int], bool]:
        """Prompt ids (one tokenisation of the whole string) within `budget` tokens, cutting the
        subtitle's tail when needed (re-tokenising the whole string each time)."""
        ids = self._ids(self.text(subtitle, prompt_type))
        if len(ids) <= budget:
            return ids, False
        subtitle_ids = self._ids(subtitle)
        keep = len(subtitle_ids)
        while keep > 0:
            keep = max(0, min(keep - 1, keep - (len(ids) - budget)))
            ids = self._ids(self.text(self.tokenizer.decode(subtitle_ids[:keep]), prompt_type))
            if len(ids) <= budget:
                return ids, True
        raise ValueError(f"prompt without subtitle is {len(ids)} tokens, over the {budget}-token budget "
                         f"(max_length {self.max_length}); raise train.max_length")

    def prompt_ids(self, subtitle: str, prompt_type: str, budget: int | None = None) -> tuple[list[int], bool]:
        """Inference prompt ids (with bos only under `bos_infer`), subtitle cut to fit `budget`
        tokens (default max_length)."""
        budget = self.max_length if budget is None else budget
        subtitle = subtitle.strip() if self.strip_text else subtitle
        ids, cut = self._fit(subtitle, prompt_type, budget - len(self._bos_infer))
        return self._bos_infer + ids, cut

    def encode_training(self, subtitle: str, prompt_type: str, answer: str) -> EncodedSample:
        """[bos] prompt answer### eos; loss only on answer + `###` + eos. Prompt + answer### fit
        max_length and bos/eos come on top, as upstream's `__getitem__` check (`length_cap:
        text`); `with-specials` counts them in. Over the cap: shorten the subtitle first (keeping
        at least its first 16 tokens), then the answer; both flagged."""
        if self.strip_text:
            subtitle, answer = subtitle.strip(), answer.strip()
        answer_ids = self._ids(answer + SEPARATOR) + [self.tokenizer.eos_token_id]
        bos = self._bos_train
        limit = self.max_length + (len(bos) + 1 if self.length_cap == "text" else 0)
        full_prompt = self._ids(self.text(subtitle, prompt_type))
        if len(bos) + len(full_prompt) + len(answer_ids) <= limit:
            prompt, subtitle_cut = full_prompt, False
        else:
            bare = len(self._ids(self.text("", prompt_type)))
            keep_subtitle = min(16, len(self._ids(subtitle))) if subtitle else 0
            budget = max(bare + keep_subtitle, limit - len(bos) - len(answer_ids))
            prompt, subtitle_cut = self._fit(subtitle, prompt_type, budget)
        prompt = bos + prompt
        answer_room = limit - len(prompt)
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
