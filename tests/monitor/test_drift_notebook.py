"""notebooks/drift_review.ipynb finds the report the README writes (`reports/drift/...` in the
current folder, newest first) or the one it is given, and shows its plots inline: executed with
nbclient against reports made here, its outputs hold PNG images and the decision. A report made
from relative paths reloads its batches wherever the notebook runs, and its checks chart draws
each check's statistic against its threshold."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from affectgpt.monitor import drift_report
from affectgpt.monitor.summary import (
    DriftReportNotFound,
    choose_report,
    find_reports,
    read_summary,
    report_roots,
)

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
    # As the README runs it: from the project folder, with paths relative to it.
    here = Path.cwd()
    os.chdir(root)
    try:
        drift_report("reference.parquet", "drifted.parquet", Path("reports/drift/today"), config_path=config)
    finally:
        os.chdir(here)
    return root


def _execute(monkeypatch, cwd: Path, report: Path | None = None):
    """The notebook executed by nbclient with its kernel in `cwd` (as `jupyter execute` runs it
    in the notebook's folder): its stream text and its inline images."""
    nbclient = pytest.importorskip("nbclient")
    import nbformat

    if report is not None:
        monkeypatch.setenv("AFFECTGPT_DRIFT_REPORT", str(report))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(REPO / "src"), os.environ.get("PYTHONPATH", "")]))
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    nbclient.NotebookClient(notebook, timeout=300, kernel_name="python3",
                            resources={"metadata": {"path": str(cwd)}}).execute()
    outputs = [output for cell in notebook.cells if cell.cell_type == "code" for output in cell.get("outputs", [])]
    text = "".join(output.get("text", "") for output in outputs if output.get("output_type") == "stream")
    images = [output for output in outputs if "image/png" in output.get("data", {})]
    return text, images


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
    assert 'matplotlib.use("Agg")' not in NOTEBOOK.read_text()
    monkeypatch.delenv("AFFECTGPT_DRIFT_REPORT", raising=False)
    monkeypatch.setenv("AFFECTGPT_HOME", str(tmp_path / "empty_workspace"))

    text, images = _execute(monkeypatch, project)

    assert f"report: {(project / 'reports/drift/today').resolve()}" in text, text
    assert "decision: RETRAIN" in text and "%" in text, text
    assert len(images) >= 2, "the checks chart and at least one distribution, inline"
    assert "plotted: none" not in text


@pytest.mark.integration
def test_notebook_elsewhere_reloads_a_report_made_from_relative_paths(project: Path, monkeypatch, tmp_path) -> None:
    """`jupyter execute notebooks/drift_review.ipynb` runs its kernel in notebooks/, not where the
    report was made from `reference.parquet` and `drifted.parquet`: the batches still reload and
    the drifted distributions are drawn. Before, the report kept the relative paths and the
    notebook said "inputs not reloadable"."""
    report = project / "reports/drift/today"
    assert read_summary(report).reference == "reference.parquet"  # what the analyst typed, for display
    elsewhere = tmp_path / "notebooks"
    elsewhere.mkdir()

    text, images = _execute(monkeypatch, elsewhere, report)

    assert "not reloadable" not in text, text
    assert "plotted: duration_s, fps, language" in text, text
    assert len(images) == 4, "the checks chart and the three drifted distributions"


def test_a_moved_project_reloads_its_batches_beside_the_report_and_a_gone_one_says_so(project: Path,
                                                                                       tmp_path: Path) -> None:
    from affectgpt.monitor.review import open_review

    moved = tmp_path / "moved"
    for name in ("reference.parquet", "drifted.parquet"):
        (moved / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(project / name, moved / name)
    shutil.copytree(project / "reports/drift/today", moved / "reports/drift/today")
    summary = read_summary(moved / "reports/drift/today")
    summary.inputs["reference"].absolute = str(tmp_path / "deleted" / "reference.parquet")  # the original is gone
    summary.inputs["current"].absolute = str(tmp_path / "deleted" / "drifted.parquet")
    summary.write(moved / "reports/drift/today")

    review = open_review(moved / "reports/drift/today")
    assert review.problem is None and review.prepared is not None
    reference, current = review.values(next(c for c in review.summary.columns if c.column == "duration_s"))
    assert len(reference) == len(current) == N_ROWS and current.mean() > reference.mean() + 1

    (moved / "drifted.parquet").unlink()
    gone = open_review(moved / "reports/drift/today")
    assert gone.prepared is None and "the current batch 'drifted.parquet' is gone" in gone.problem
    assert str(tmp_path / "deleted" / "drifted.parquet") in gone.problem and str(moved / "drifted.parquet") in gone.problem


def test_checks_chart_draws_each_statistic_against_its_threshold(project: Path) -> None:
    """Bar lengths are drift scores (1 = the threshold, dashed), so a p-value of 1e-9 and one of
    0.9 are not the same bar. Before, every bar was 1.0 (drifted) or 0.3 (not)."""
    import matplotlib

    from affectgpt.monitor.review import checks_chart

    matplotlib.use("Agg")
    summary = read_summary(project / "reports/drift/today")
    figure = checks_chart(summary)
    axis = figure.axes[0]
    counted = [check for check in summary.columns if check.counted]
    tips = [bar.get_x() + bar.get_width() for bar in axis.patches]
    assert len(tips) == len(counted)
    for check, tip in zip(counted, tips, strict=True):
        assert check.score is not None
        assert tip == pytest.approx(min(max(check.score, 1e-3), 1e3), rel=1e-6), check
        assert (tip > 1) == check.drifted, check  # past the dashed threshold line exactly when drifted
    assert len({round(tip, 6) for tip in tips}) > 2
    assert [line.get_xdata()[0] for line in axis.lines] == [1.0]
    labels = " ".join(text.get_text() for text in axis.texts)
    assert "drifted when < 0.05" in labels
