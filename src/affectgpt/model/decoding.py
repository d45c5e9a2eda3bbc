"""The decoding presets a generation runs with, named once.

`official` is upstream's inference (inference_hybird.py -> Chat.answer_sample): sampling with
temperature 1.0, top-p 0.9, top-k from the base model's generation config (upstream does not
pass it), repetition penalty 1.0 passed explicitly, beams 1, up to 1200 new tokens; seeded by
the caller so a run is reproducible. `greedy` is the platform default for stable gates: no
sampling, repetition penalty 1.0 set explicitly, never inherited from the base model's
generation config. Both stop and clean up as upstream (`affectgpt.model.stopping`: the base
model's eos list, upstream's `###` token stops, the cut at the last `###` and after
`Assistant:`).

Two things differ from upstream's loop on purpose, and neither is a preset: clips are decoded in
left-padded batches (each row gets the next-token distribution it would get alone; `batch_size
1` is upstream's one clip at a time), and a prompt is never cut at its head. Upstream's
`max_length=2000` with 1200 new tokens keeps only the last 800 prompt tokens, dropping the
modality slots of a longer prompt; here the subtitle is shortened so the prompt fits
`train.max_length` (1024) with every slot in place.

This module imports nothing heavy, so a command line or a pipeline input can parse a preset
name (`as_decoding`) and refuse a bad one before any model or data is loaded; everything
below the boundary carries the `Decoding` member, never a loose string.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from affectgpt.errors import BadInput


class Decoding(StrEnum):
    GREEDY = "greedy"
    OFFICIAL = "official"


class UnknownDecoding(BadInput, ValueError):
    """A preset name that is not a `Decoding` (also a ValueError, as before the enum)."""


def as_decoding(value: Decoding | str) -> Decoding:
    """The preset of a name; UnknownDecoding (exit 2 at the command line) lists the valid ones."""
    try:
        return Decoding(value)
    except ValueError:
        raise UnknownDecoding(f"unknown decoding preset {value!r}; use one of "
                              f"{', '.join(d.value for d in Decoding)}") from None


def decoding_settings(preset: Decoding | str, llm: Any = None) -> dict[str, Any]:
    """The generate() keyword arguments of a preset (what a prediction file records). `llm`
    lends its generation config's top_k to `official`."""
    if as_decoding(preset) is Decoding.GREEDY:
        return {"do_sample": False, "num_beams": 1, "repetition_penalty": 1.0}
    base = getattr(llm, "generation_config", None)
    top_k = getattr(base, "top_k", None)
    return {"do_sample": True, "num_beams": 1, "temperature": 1.0, "top_p": 0.9,
            "top_k": int(top_k) if top_k is not None else None, "repetition_penalty": 1.0,
            "length_penalty": 1.0, "min_length": 1}
