"""Training fixtures: caption-record folders built from the real reference text (MER2023
transcripts with their labels, EMER descriptions), and a small tiny-config variant."""

from __future__ import annotations

from pathlib import Path

import pytest
from testkit.torch_threads import one_torch_thread
from train_testkit import build_reference_records


@pytest.fixture(scope="session")
def reference_records_dir(reference_data: Path, tmp_path_factory) -> Path:
    import torch

    from affectgpt.features.packs import write_features

    folder = tmp_path_factory.mktemp("mer-caption")
    records = build_reference_records(reference_data)
    records.to_parquet(folder / "records.parquet")
    generator = torch.Generator().manual_seed(0)
    write_features(folder / "features", {  # a few clips with cached features, the rest text-only
        clip_id: {key: torch.randn(8, 32, generator=generator) for key in ("frames", "faces", "audio")}
        for clip_id in records["clip_id"].head(10)})
    return folder


@pytest.fixture(scope="session", autouse=True)
def _one_thread():
    with one_torch_thread():
        yield


@pytest.fixture(autouse=True)
def _isolated_workspace(tmp_path, monkeypatch):
    """Each test gets its own workspace and MLflow store."""
    monkeypatch.setenv("AFFECTGPT_HOME", str(tmp_path / "workspace"))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
