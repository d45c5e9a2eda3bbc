"""Batched greedy generation over many clips (left padding, stop at `###`).

Used by `affectgpt infer` and the MLflow pyfunc; batching is what makes benchmark-sized
inference affordable (see benchmarks/bench_train.py for the batched vs one-by-one ratio).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from affectgpt.model.batching import Batcher
from affectgpt.model.store import LoadedModel


def generate_texts(loaded: LoadedModel, subtitles: Sequence[str], features: Sequence[dict[str, torch.Tensor]],
                   prompt_type: str = "ov", *, batch_size: int = 8, max_new_tokens: int = 64,
                   progress: Any = None) -> list[str]:
    """One generated text per clip, in input order. `features[i]` holds frames/faces/audio [T, D]."""
    if len(subtitles) != len(features):
        raise ValueError(f"{len(subtitles)} subtitles but {len(features)} feature sets")
    model, tokenizer = loaded.model, loaded.tokenizer
    tokenizer.padding_side = "left"
    batcher = Batcher(model, tokenizer, loaded.config.train.max_length)
    device = next(model.parameters()).device
    outputs: list[str] = []
    model.eval()
    for start in range(0, len(subtitles), batch_size):
        chunk = slice(start, start + batch_size)
        stacked = {key: torch.stack([item[key] for item in features[chunk]]) for key in ("frames", "faces", "audio")}
        batch = batcher.generation_batch(subtitles[chunk], prompt_type, stacked).to(device)
        outputs += model.generate(batch.input_ids, batch.attention_mask, batch.features, tokenizer,
                                  max_new_tokens=max_new_tokens)
        if progress is not None:
            progress.update(len(outputs) - progress.n)
    return outputs
