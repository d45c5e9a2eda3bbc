"""Parameter counts by module for a config, built on the meta device (no weights, no memory),
so the 7B setup can be checked on a laptop: LoRA on Qwen2.5-7B-Instruct = 40,370,176."""

from __future__ import annotations

from pathlib import Path

from affectgpt.model.config import load_config


def summarize(config_path: str | Path) -> dict[str, dict[str, int]]:
    """Module group -> {total, trainable}, plus a `TOTAL` row."""
    from affectgpt.model.build import build_meta_model
    from affectgpt.model.mllm import parameter_counts

    counts = parameter_counts(build_meta_model(load_config(config_path)))
    counts["TOTAL"] = {"total": sum(v["total"] for v in counts.values()),
                       "trainable": sum(v["trainable"] for v in counts.values())}
    return counts
