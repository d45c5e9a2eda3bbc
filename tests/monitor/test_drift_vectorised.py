"""The vectorised column tests reach Evidently's verdicts: for each column type and size (K-S,
chi-square, z-test below 1000 reference rows; Wasserstein, Jensen-Shannon above; NaN/inf cleaned;
a configured test), `tests.engine: vectorised` and `tests.engine: evidently` agree column by
column, and a wide report stays small."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from scipy.stats import wasserstein_distance

from affectgpt.monitor import drift_report
from affectgpt.monitor.stats import numeric_drift

NUMERIC = ["wide", "shifted", "few", "binary", "holes"]
CATEGORICAL = ["lang", "flag"]


def _batch(seed: int, n_rows: int, shift: float) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    holes = rng.normal(shift, 1.0, n_rows)
    holes[::7] = np.nan
    holes[3] = np.inf
    return pd.DataFrame({
        "wide": rng.normal(0.0, 1.0, n_rows),
        "shifted": rng.normal(shift, 1.0, n_rows),
        "few": rng.integers(0, 4 + int(shift > 0), n_rows).astype(float),  # <= 5 distinct values
        "binary": (rng.uniform(0, 1, n_rows) < 0.3 + shift).astype(float),
        "holes": holes,
        "lang": rng.choice(["en", "zh", "fr"], n_rows, p=[0.5, 0.3 - shift / 2, 0.2 + shift / 2]),
        "flag": rng.choice(["a", "b"], n_rows, p=[0.5 + shift / 2, 0.5 - shift / 2]),
    })


def _config(tmp_path: Path, engine: str, **tests: object) -> Path:
    path = tmp_path / f"monitoring-{engine}.yaml"
    path.write_text(yaml.safe_dump({
        "columns": {"metadata": NUMERIC + CATEGORICAL, "embeddings": [], "text": [], "predictions": [], "ignore": []},
        "tests": {"engine": engine, **tests},
    }))
    return path


def _verdicts(summary) -> dict[str, tuple[bool, str, float]]:
    return {c.column: (c.drifted, c.test, c.threshold) for c in summary.columns}


@pytest.mark.parametrize(("n_rows", "tests"), [
    (400, {}),  # K-S, chi-square, z-test
    (1500, {}),  # Wasserstein, Jensen-Shannon
    (400, {"numeric_method": "wasserstein", "numeric_threshold": 0.05, "categorical_method": "psi"}),
])
def test_vectorised_verdicts_equal_evidently(tmp_path: Path, n_rows: int, tests: dict) -> None:
    reference, current = _batch(0, n_rows, 0.0), _batch(1, n_rows, 0.15)
    fast = drift_report(reference, current, tmp_path / "fast", config_path=_config(tmp_path, "vectorised", **tests))
    slow = drift_report(reference, current, tmp_path / "slow", config_path=_config(tmp_path, "evidently", **tests))
    assert _verdicts(fast) == _verdicts(slow)
    for mine, theirs in zip(fast.columns, slow.columns, strict=True):
        assert mine.statistic == pytest.approx(theirs.statistic, rel=1e-9, abs=1e-12), mine.column
    assert fast.retrain == slow.retrain and fast.groups == slow.groups
    assert any(c.drifted for c in fast.columns) and not all(c.drifted for c in fast.columns)


def test_wasserstein_matches_scipy_with_ties_and_unequal_sizes() -> None:
    rng = np.random.default_rng(3)
    reference = pd.DataFrame(np.round(rng.normal(0, 1, (1800, 6)), 1), columns=list("abcdef"))
    current = pd.DataFrame(np.round(rng.normal(0.1, 1.2, (1100, 6)), 1), columns=list("abcdef"))
    results = numeric_drift(reference, current, list("abcdef"), None, None)
    for column, result in results.items():
        expected = wasserstein_distance(reference[column], current[column]) / max(np.std(reference[column]), 0.001)
        assert result.test_name == "wasserstein"
        assert result.statistic == pytest.approx(expected, rel=1e-12)
        assert result.drifted == (expected >= 0.1)


def test_wide_report_plots_the_most_drifted_and_stays_small(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    names = [f"f{i:03d}" for i in range(400)]
    reference = pd.DataFrame(rng.normal(0, 1, (300, 400)), columns=names)
    current = pd.DataFrame(rng.normal(np.where(np.arange(400) % 10 == 0, 1.0, 0.0), 1, (300, 400)), columns=names)
    config = tmp_path / "wide.yaml"
    config.write_text(yaml.safe_dump({"columns": {"metadata": names, "embeddings": [], "text": [],
                                                  "predictions": [], "ignore": []},
                                      "tests": {"plot_columns": 10}}))
    summary = drift_report(reference, current, tmp_path / "out", config_path=config)
    assert len(summary.columns) == 400
    assert {c.column for c in summary.drifted_columns} >= {f"f{i:03d}" for i in range(0, 400, 10)}
    page = (tmp_path / "out" / "drift.html").read_text()
    assert (tmp_path / "out" / "drift.html").stat().st_size < 5_000_000
    assert "f390" in page and "plots the 10 most drifted of 400" in page


def test_recorded_thresholds_are_the_ones_evidently_compares_against() -> None:
    """The text-content threshold (random classifiers' ROC AUC percentile, from ranks) equals
    Evidently's own computation, and the bootstrap thresholds recomputed for the embedding
    methods give Evidently's verdicts."""
    from evidently.legacy.utils.data_drift_utils import roc_auc_random_classifier_percentile

    from affectgpt.monitor.config import EmbeddingTest
    from affectgpt.monitor.report import _bootstrap_threshold, _embedding_method
    from affectgpt.monitor.stats import random_auc_percentile

    labels = np.random.default_rng(0).permutation(np.r_[np.zeros(37), np.ones(53)])
    # 200 of the 1000 draws: the same seeded algorithm at a fifth of Evidently's cost
    expected = roc_auc_random_classifier_percentile(labels, 0.05, iter_num=200)
    assert random_auc_percentile(labels, 0.05, iter_num=200) == pytest.approx(expected, abs=1e-12)
    rng = np.random.default_rng(1)
    reference = rng.normal(0, 1, (80, 6))
    for method, shifts in (("distance", (0.0, 0.3, 1.0)), ("model", (0.0, 1.0))):
        config = EmbeddingTest(method=method)
        for shift in shifts:
            current = rng.normal(shift, 1, (60, 6))
            score, drifted, _ = _embedding_method(config)(pd.DataFrame(current), pd.DataFrame(reference))
            threshold = _bootstrap_threshold(reference, current, config)
            assert drifted == (score > threshold), (method, shift, score, threshold)
