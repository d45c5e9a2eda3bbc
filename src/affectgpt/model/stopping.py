"""Where an answer ends and what of it is kept, as upstream's `Chat.answer_sample` decides.

Upstream (conversation/conversation_video.py) stops on the tokenizer's eos or on the token
sequences of `###` it lists (`###`, `##`+`#`, `#`+`##`), and, since it passes no
`eos_token_id`, on every eos of the base model's generation config (Qwen2.5-Instruct lists
`<|im_end|>` and `<|endoftext|>`). It then decodes with the special tokens, keeps what lies
after a bos and before the tokenizer's eos, cuts at the *last* `###` and keeps what follows the
last `Assistant:`. Upstream decodes one clip at a time; here each row of a batch is checked on
its own, so a row ends where it would have ended alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from transformers import PreTrainedTokenizerBase, StoppingCriteria

from affectgpt.model.prompt import SEPARATOR


def _second_token(tokenizer: PreTrainedTokenizerBase, text: str) -> int | None:
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    return int(ids[1]) if len(ids) > 1 else None


def upstream_stop_sequences(tokenizer: PreTrainedTokenizerBase) -> list[list[int]]:
    """Upstream's `stop_words_ids`: [eos], [id('###')], [id('##'), id('#')], [id('#'), id('##')],
    the `#` ids taken as upstream takes them (the second token of 'a##' and of 'a#'). A
    tokenizer that merges 'a##' into one token (a small in-process BPE) has no such pair."""
    stops = [[int(tokenizer.eos_token_id)],
             [int(tokenizer(SEPARATOR, add_special_tokens=False)["input_ids"][0])]]
    two, one = _second_token(tokenizer, "a##"), _second_token(tokenizer, "a#")
    if two is not None and one is not None:
        stops += [[two, one], [one, two]]
    return stops


class UpstreamStops(StoppingCriteria):
    """Upstream's `StoppingCriteriaSub`, per row: a row is done when its last tokens are one of
    the stop sequences. (Upstream looks at row 0 only; it decodes batches of one.)"""

    def __init__(self, stops: Sequence[Sequence[int]], prompt_length: int = 0) -> None:
        super().__init__()
        self.stops = [torch.tensor(stop, dtype=torch.long) for stop in stops]
        self.prompt_length = prompt_length

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor, **kwargs: Any) -> torch.BoolTensor:
        generated = input_ids[:, self.prompt_length:]
        done = torch.zeros(input_ids.shape[0], dtype=torch.bool, device=input_ids.device)
        for stop in self.stops:
            if generated.shape[1] >= len(stop):
                done |= (generated[:, -len(stop):] == stop.to(input_ids.device)).all(dim=1)
        return done


def eos_ids(llm: Any, tokenizer: PreTrainedTokenizerBase) -> list[int]:
    """The eos ids generation stops on: the base model's generation config (upstream passes no
    `eos_token_id`, so Qwen2.5-Instruct's list applies), then the tokenizer's own eos."""
    configured = getattr(getattr(llm, "generation_config", None), "eos_token_id", None)
    if configured is None:
        configured = []
    elif isinstance(configured, int):
        configured = [configured]
    ids = [int(i) for i in configured]
    if tokenizer.eos_token_id is not None and int(tokenizer.eos_token_id) not in ids:
        ids.append(int(tokenizer.eos_token_id))
    return ids


def upstream_response(response: str, bos_token: str | None, eos_token: str | None) -> str:
    """Upstream's step 4, line for line:
        if response.find(bos) != -1: response = response.split(bos)[1]
        if response.find(eos) != -1: response = response.split(eos)[0]
        response = response.rsplit('###', 1)[0]
        response = response.split('Assistant:')[-1].strip()"""
    if bos_token and response.find(bos_token) != -1:
        response = response.split(bos_token)[1]
    if eos_token and response.find(eos_token) != -1:
        response = response.split(eos_token)[0]
    response = response.rsplit(SEPARATOR, 1)[0]
    return response.split("Assistant:")[-1].strip()


def decode_responses(output_ids: torch.Tensor, tokenizer: PreTrainedTokenizerBase) -> list[str]:
    """Each row's answer as upstream keeps it. The pad ids generate() writes after a row has
    finished are dropped first: a clip decoded alone has none."""
    pad = tokenizer.pad_token_id
    texts = []
    for row in output_ids.tolist():
        while pad is not None and row and row[-1] == pad:
            row.pop()
        text = tokenizer.decode(row, skip_special_tokens=False)
        texts.append(upstream_response(text, tokenizer.bos_token, tokenizer.eos_token))
    return texts
