"""Batched generation over many clips (left padding, stop at `###` or eos) with named decoding
presets.

`official` is upstream's inference (inference_hybird.py -> Chat.answer_sample): sampling with
temperature 1.0, top-p 0.9, top-k from the base model's generation config (upstream does not
pass it), repetition penalty 1.0 passed explicitly, beams 1, up to 1200 new tokens; seeded here
so a run is reproducible. `greedy` is the platform default for stable gates: no sampling,
repetition penalty 1.0 set explicitly, never inherited from the base model's generation config.
Used by `affectgpt infer` and the MLflow pyfunc; batching is what makes benchmark-sized
inference affordable (see benchmarks/bench_train.py for the batched vs one-by-one ratio).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from affectgpt.model.batching import Batcher
from affectgpt.model.store import LoadedModel

DECODING_PRESETS: tuple[str, ...] = ("greedy", "official")
DEFAULT_MAX_NEW_TOKENS = 1200  # upstream's; long enough for descriptions (64 cut them)


def decoding_settings(preset: str, llm: Any = None) -> dict[str, Any]:
    """The generate() keyword arguments of a preset (what a prediction file records)."""
    if preset == "greedy":
        return {"do_sample": False, "num_beams": 1, "repetition_penalty": 1.0}
    if preset == "official":
        base = getattr(llm, "generation_config", None)
        top_k = getattr(base, "top_k", None)
        return {"do_sample": True, "num_beams": 1, "temperature": 1.0, "top_p": 0.9,
                "top_k": int(top_k) if top_k is not None else None, "repetition_penalty": 1.0,
                "length_penalty": 1.0, "min_length": 1}
    raise ValueError(f"unknown decoding preset {preset!r}; use one of {', '.join(DECODING_PRESETS)}")


def generate_texts(loaded: LoadedModel, subtitles: Sequence[str], features: Sequence[dict[str, torch.Tensor]],
                   prompt_type: str = "ov", *, batch_size: int = 8, max_new_tokens: int | None = None,
                   decoding: str = "greedy", seed: int = 0, progress: Any = None) -> list[str]:
    """One generated text per clip, in input order. `features[i]` holds frames/faces/audio [T, D].
    Sampling (`official`) is seeded per batch from `seed`, so the same inputs and batch size give
    the same texts. `max_new_tokens=None` means upstream's 1200; any budget is capped so prompt +
    answer stay within the LM's context (a toy LM with 512 positions gets what is left of those)."""
    if len(subtitles) != len(features):
        raise ValueError(f"{len(subtitles)} subtitles but {len(features)} feature sets")
    model, tokenizer = loaded.model, loaded.tokenizer
    settings = decoding_settings(decoding, model.llm)
    context = getattr(getattr(model.llm, "config", None), "max_position_embeddings", None)
    tokenizer.padding_side = "left"
    batcher = Batcher(model, tokenizer, loaded.config.train.max_length)
    device = next(model.parameters()).device
    outputs: list[str] = []
    model.eval()
    for start in range(0, len(subtitles), batch_size):
        chunk = slice(start, start + batch_size)
        stacked = {key: torch.stack([item[key] for item in features[chunk]]) for key in ("frames", "faces", "audio")}
        batch = batcher.generation_batch(subtitles[chunk], prompt_type, stacked).to(device)
        devices = [device] if device.type == "cuda" else []
        budget = DEFAULT_MAX_NEW_TOKENS if max_new_tokens is None else max_new_tokens
        if context:  # never past the LM's positions
            budget = max(1, min(budget, int(context) - batch.input_ids.shape[1]))
        with torch.random.fork_rng(devices=devices):
            torch.manual_seed(seed + start)
            outputs += model.generate(batch.input_ids, batch.attention_mask, batch.features, tokenizer,
                                      max_new_tokens=budget, **settings)
        if progress is not None:
            progress.update(len(outputs) - progress.n)
    return outputs
