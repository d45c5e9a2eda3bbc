"""Batched generation over many clips (left padding, stop at `###` or eos) with a named decoding
preset (`affectgpt.model.decoding`: `greedy`, the default, or upstream's seeded `official`
sampling). Used by `affectgpt infer` and the MLflow pyfunc; batching is what makes
benchmark-sized inference affordable (see benchmarks/bench_train.py for the batched vs
one-by-one ratio).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from affectgpt.model.batching import Batcher
from affectgpt.model.decoding import Decoding, decoding_settings
from affectgpt.model.store import LoadedModel

DEFAULT_MAX_NEW_TOKENS = 1200  # upstream's; long enough for descriptions (64 cut them)


def generate_texts(loaded: LoadedModel, subtitles: Sequence[str], features: Sequence[dict[str, torch.Tensor]],
                   prompt_type: str = "ov", *, batch_size: int = 8, max_new_tokens: int | None = None,
                   decoding: Decoding | str = Decoding.GREEDY, seed: int = 0, progress: Any = None) -> list[str]:
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
