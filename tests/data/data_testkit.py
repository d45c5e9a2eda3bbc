"""Helpers shared by the dataset-builder tests."""

from __future__ import annotations

from pathlib import Path

from affectgpt.data.config import BuildConfig


def fast_config(cache_dir: Path, high_level: bool = True) -> BuildConfig:
    """The default build with the high-level classifiers trained on the clips' own labels
    (no reference data, no 2,000-row MiniLM training) and a test-local cache."""
    config = BuildConfig()
    config.cache_dir = str(cache_dir)
    config.postfilter.high_level.enabled = high_level
    config.postfilter.high_level.train_data = "clips"
    return config
