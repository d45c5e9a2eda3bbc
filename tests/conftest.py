"""Shared test fixtures: offline environment and the research reference data."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("DO_NOT_TRACK", "true")
os.environ.setdefault("DVC_NO_ANALYTICS", "1")
os.environ.setdefault("DS_ACCELERATOR", "cpu")
os.environ.setdefault("KERAS_BACKEND", "torch")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from affectgpt.paths import reference_data_dir  # noqa: E402


@pytest.fixture(scope="session")
def reference_data() -> Path:
    """The shared reference-data folder. Skips where absent (a user's fresh clone); CI sets
    AFFECTGPT_REQUIRE_REFERENCE_DATA=1 so the skip becomes a failure there."""
    found = reference_data_dir(required=False)
    if found is None:
        if os.environ.get("AFFECTGPT_REQUIRE_REFERENCE_DATA") == "1":
            pytest.fail("AFFECTGPT_REQUIRE_REFERENCE_DATA=1 but the reference data is missing")
        pytest.skip("reference data absent: set AFFECTGPT_REFERENCE_DATA to ../shared/reference-data")
    return found


@pytest.fixture(scope="session")
def mertools(reference_data: Path) -> Path:
    return reference_data / "zeroQiaoba-MERTools"


@pytest.fixture(scope="session")
def demo_clip(reference_data: Path) -> dict[str, Path]:
    demo = reference_data / "ouyangjutian-AffectGPT" / "AffectGPT" / "demo"
    return {"video": demo / "sample_00000000.mp4", "audio": demo / "sample_00000000.wav"}
