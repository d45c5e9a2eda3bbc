"""notebooks/drift_review.ipynb finds the report the README writes (`reports/drift/...` in the
current folder, newest first) or the one it is given, and shows its plots inline: executed with
nbclient against reports made here, its outputs hold PNG images and the decision."""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from affectgpt.monitor import drift_report
from affectgpt.monitor.summary import DriftReportNotFound, choose_report, find_reports, report_roots

REPO = Path(__file__).resolve().parents[2]
NOTEBOOK = REPO / "notebooks" / "drift_review.ipynb"
N_ROWS = 60


def _batch(seed: int, shift: float = 0.0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({
        "clip_id": [f"clip{seed}_{i}" for i in range(N_ROWS)],
        "duration_s": rng.normal(4.0 + shift, 1.0, N_ROWS),
        "fps": rng.normal(25.0 + 5 * shift, 1.0, N_ROWS),
        "language": rng.choice(["en", "zh"] if not shift else ["en", "zh", "fr"], N_ROWS),
        "predicted_label": rng.choice(["happy", "sad"], N_ROWS),
    })


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A project folder with the README's layout: an older steady report and a newer drifted one."""
    root = tmp_path_factory.mktemp("project")
    config = root / "monitoring.yaml"
    config.write_text("text: {content_drift: false, descriptors: [length]}\n")
    _batch(0).to_parquet(root / "reference.parquet")
    _batch(1).to_parquet(root / "steady.parquet")
    _batch(2, shift=1.5).to_parquet(root / "drifted.parquet")
    drift_report(str(root / "reference.parquet"), str(root / "steady.parquet"), root / "reports/drift/older",
                 config_path=config)
    time.sleep(0.05)  # distinct modification times: "newest" must be well defined
    drift_report(str(root / "reference.parquet"), str(root / "drifted.parquet"), root / "reports/drift/today",
                 config_path=config)
    return root


def test_reports_are_found_where_the_readme_writes_them_newest_first(project: Path, monkeypatch, tmp_path) -> None:
    monkeypatch.delenv("AFFECTGPT_DRIFT_REPORT", raising=False)
    monkeypatch.setenv("AFFECTGPT_HOME", str(tmp_path / "empty_workspace"))
    today, older = project / "reports/drift/today", project / "reports/drift/older"
    assert find_reports(report_roots(project)) == [today.resolve(), older.resolve()]
    notebooks = project / "notebooks"
    notebooks.mkdir(exist_ok=True)
    assert choose_report(roots=report_roots(notebooks)) == today.resolve()  # Jupyter runs in notebooks/
    assert choose_report(older / "drift.json") == older
    monkeypatch.setenv("AFFECTGPT_DRIFT_REPORT", str(older))
    assert choose_report(roots=report_roots(project)) == older
    monkeypatch.delenv("AFFECTGPT_DRIFT_REPORT")
    with pytest.raises(DriftReportNotFound, match="no drift report under"):
        choose_report(roots=report_roots(tmp_path))
    with pytest.raises(DriftReportNotFound, match="no drift.json"):
        choose_report(tmp_path)


@pytest.mark.integration
def test_executed_notebook_shows_inline_plots_and_the_decision(project: Path, monkeypatch, tmp_path) -> None:
    nbclient = pytest.importorskip("nbclient")
    import nbformat

    assert 'matplotlib.use("Agg")' not in NOTEBOOK.read_text()
    monkeypatch.delenv("AFFECTGPT_DRIFT_REPORT", raising=False)
    monkeypatch.setenv("AFFECTGPT_HOME", str(tmp_path / "empty_workspace"))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(REPO / "src"), os.environ.get("PYTHONPATH", "")]))
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    nbclient.NotebookClient(notebook, timeout=300, kernel_name="python3",
                            resources={"metadata": {"path": str(project)}}).execute()

    outputs = [output for cell in notebook.cells if cell.cell_type == "code" for output in cell.get("outputs", [])]
    text = "".join(output.get("text", "") for output in outputs if output.get("output_type") == "stream")
    images = [output for output in outputs if "image/png" in output.get("data", {})]
    assert f"report: {(project / 'reports/drift/today').resolve()}" in text, text
    assert "decision: RETRAIN" in text and "%" in text, text
    assert len(images) >= 2, "the checks chart and at least one distribution, inline"
    assert "plotted: none" not in text
