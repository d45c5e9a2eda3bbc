"""Metadata drift on the demo corpus: a batch whose clips got longer and came from another source
and language must trigger retraining; two disjoint halves of the corpus must not."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from affectgpt.data.demo_corpus import make_demo_corpus
from affectgpt.monitor import drift_report

N_CLIPS = 24


@pytest.fixture(scope="module")
def demo_metadata(tmp_path_factory: pytest.TempPathFactory) -> pd.DataFrame:
    manifest = make_demo_corpus(tmp_path_factory.mktemp("demo"), n_clips=N_CLIPS, seed=0)
    clips = pd.read_parquet(manifest)
    clips["subtitle_len"] = clips["subtitle"].str.len()
    return clips[["clip_id", "duration_s", "language", "source", "subtitle_len", "split"]]


@pytest.fixture(scope="module")
def metadata_config(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("cfg") / "monitoring.yaml"
    path.write_text("text: {content_drift: false}\n")
    return path


def test_shifted_batch_triggers_metadata_retrain(demo_metadata, metadata_config, tmp_path: Path) -> None:
    shifted = demo_metadata.copy()
    rng = np.random.default_rng(3)
    shifted["duration_s"] = shifted["duration_s"] * 1.8 + rng.normal(0, 0.2, len(shifted))
    shifted["source"] = "field-upload"
    shifted["language"] = np.where(np.arange(len(shifted)) % 2 == 0, "zh", "en")

    summary = drift_report(demo_metadata, shifted, tmp_path, config_path=metadata_config)

    checks = {check.column: check for check in summary.columns}
    assert checks["duration_s"].drifted and checks["source"].drifted and checks["language"].drifted
    assert not checks["subtitle_len"].drifted  # same sentences: must not be blamed
    assert summary.groups["metadata"].triggered
    assert summary.retrain is False  # 24 rows < min_current_rows (30): reported, not triggered
    assert any("min_current_rows" in note for note in summary.notes)


def test_shifted_batch_retrains_when_batch_is_large_enough(demo_metadata, tmp_path: Path) -> None:
    config = tmp_path / "monitoring.yaml"
    config.write_text("text: {content_drift: false}\nretrain: {min_current_rows: 10}\n")
    shifted = demo_metadata.assign(duration_s=demo_metadata["duration_s"] * 1.8, source="field-upload")

    summary = drift_report(demo_metadata, shifted, tmp_path / "out", config_path=config)

    assert summary.retrain
    assert any(reason.startswith("metadata:") and "duration_s" in reason for reason in summary.reasons)


def test_disjoint_halves_of_demo_corpus_do_not_drift(demo_metadata, metadata_config, tmp_path: Path) -> None:
    order = np.random.default_rng(5).permutation(N_CLIPS)
    first, second = demo_metadata.iloc[order[: N_CLIPS // 2]], demo_metadata.iloc[order[N_CLIPS // 2:]]

    summary = drift_report(first, second, tmp_path, config_path=metadata_config)

    assert not summary.groups["metadata"].triggered
    assert not any(check.drifted for check in summary.columns), [c for c in summary.columns if c.drifted]
    assert summary.retrain is False


def test_drift_review_notebook_runs_on_demo_report(demo_metadata, metadata_config, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """The analysts' notebook executes top to bottom on a report made from the demo corpus."""
    import nbformat
    from jupyter_client.kernelspec import KernelSpecManager
    from nbclient import NotebookClient

    from affectgpt.paths import REPO_ROOT

    assert "python3" in KernelSpecManager().find_kernel_specs()
    shifted = demo_metadata.assign(duration_s=demo_metadata["duration_s"] * 1.8, source="field-upload")
    demo_metadata.to_parquet(tmp_path / "reference.parquet")
    shifted.to_parquet(tmp_path / "current.parquet")
    report_dir = tmp_path / "report"
    drift_report(tmp_path / "reference.parquet", tmp_path / "current.parquet", report_dir, config_path=metadata_config)

    monkeypatch.setenv("AFFECTGPT_DRIFT_REPORT", str(report_dir))
    # The kernel imports this checkout's code, not whichever copy is installed.
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(REPO_ROOT / "src"), os.environ.get("PYTHONPATH", "")]))
    notebook = nbformat.read(REPO_ROOT / "notebooks" / "drift_review.ipynb", as_version=4)
    # jupyter_client runs a "python" kernelspec with sys.executable, i.e. this venv's interpreter.
    NotebookClient(notebook, kernel_name="python3", timeout=240, resources={"metadata": {"path": str(tmp_path)}}).execute()

    outputs = "\n".join(
        output.get("text", "") for cell in notebook.cells if cell.cell_type == "code" for output in cell.get("outputs", [])
    )
    assert "decision:" in outputs and "plotted: duration_s, source" in outputs
    images = [output for cell in notebook.cells if cell.cell_type == "code" for output in cell.get("outputs", [])
              if "image/png" in output.get("data", {})]
    assert len(images) == 3  # the checks chart and the two distributions, inline
    assert not (report_dir / "drift_review_checks.png").exists()  # reviewing writes nothing into the report
