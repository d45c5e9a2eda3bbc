"""Per-column drift tests for numeric and categorical columns, all columns at once.

Evidently's ValueDrift metric copies the whole dataset and draws its plots once per column, which
made a 400-column report take minutes. This module reaches the same verdicts directly:

- the test is chosen by Evidently's own rule (`_get_default_stattest` in Evidently 0.7.23), or
  the one configured: numeric, reference <= 1000 rows: K-S p-value (chi-square / z-test for <= 5
  distinct values); above 1000 rows: normed Wasserstein distance (Jensen-Shannon for <= 5
  values); categorical: chi-square / z-test <= 1000 rows, Jensen-Shannon above;
- NaN and +-inf are dropped per column, as Evidently does;
- distinct-value counts and the normed Wasserstein distance are computed for many columns at
  once from the sorted samples (no row sampling: every row counts, and sorting 100k rows x 400
  columns takes seconds);
- every other test runs Evidently's own StatTest function on the cleaned column, so thresholds
  and direction (p-value vs distance) are Evidently's.

`affectgpt.monitor.report` uses this for the verdicts and asks Evidently to render only the most
drifted columns.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

CHUNK_COLUMNS = 32  # columns sorted together: bounds memory to ~ pooled rows x 32 x 24 bytes
SMALL_REFERENCE_ROWS = 1000  # Evidently's switch from p-value tests to distances
FEW_VALUES = 5
# Tests whose score is a p-value (drift when score <= threshold); the rest are distances.
P_VALUE_TESTS = {"ks", "chisquare", "z", "mannw", "anderson", "cramer_von_mises", "epps_singleton",
                 "fisher_exact", "g_test", "t_test", "empirical_mmd"}


@dataclass
class ColumnResult:
    """One column's verdict, with the Evidently test that produced it."""

    column: str
    test_name: str  # Evidently's registered name, e.g. "wasserstein" (what ValueDrift(method=) takes)
    display_name: str  # what Evidently shows, e.g. "Wasserstein distance (normed)"
    statistic: float
    threshold: float
    drifted: bool

    @property
    def severity(self) -> float:
        """How far past (or short of) its threshold the column is; larger is more drifted."""
        if self.test_name in P_VALUE_TESTS:
            return float(self.threshold) / max(self.statistic, 1e-300)
        return self.statistic / max(float(self.threshold), 1e-12)


def _default_test(n_reference: int, n_values: int, numeric: bool):
    """Evidently 0.7.23's automatic choice (legacy/calculations/stattests/registry.py)."""
    from evidently.legacy.calculations import stattests

    if n_reference <= SMALL_REFERENCE_ROWS:
        if numeric and n_values > FEW_VALUES:
            return stattests.ks_stat_test
        return stattests.chi_stat_test if n_values > 2 else stattests.z_stat_test
    if numeric and n_values > FEW_VALUES:
        return stattests.wasserstein_stat_test
    return stattests.jensenshannon_stat_test


def _resolve(method: str | None, n_reference: int, n_values: int, numeric: bool):
    if method is None:
        return _default_test(n_reference, n_values, numeric)
    from evidently.legacy.calculations.stattests.registry import get_registered_stattest
    from evidently.legacy.core import ColumnType

    return get_registered_stattest(method, ColumnType.Numerical if numeric else ColumnType.Categorical)


def _run_evidently_test(test, column: str, reference: pd.Series, current: pd.Series, numeric: bool,
                        threshold: float | None) -> ColumnResult:
    from evidently.legacy.core import ColumnType

    result = test(reference, current, ColumnType.Numerical if numeric else ColumnType.Categorical, threshold)
    return ColumnResult(column=column, test_name=test.name, display_name=test.display_name,
                        statistic=float(result.drift_score), threshold=float(result.actual_threshold),
                        drifted=bool(result.drifted))


def _clean(series: pd.Series) -> pd.Series:
    return series.replace([-np.inf, np.inf], np.nan).dropna()


def _n_values(ref_sorted: np.ndarray, cur_sorted: np.ndarray) -> np.ndarray:
    """Distinct values of the pooled sample per column, exact up to FEW_VALUES + 1 (all the test
    choice needs): a reference with more distinct values than that settles it alone."""
    counts = 1 + np.count_nonzero(np.diff(ref_sorted, axis=1), axis=1)
    for k in np.flatnonzero(counts <= FEW_VALUES):
        counts[k] = len(np.unique(np.concatenate([ref_sorted[k], cur_sorted[k]])))
    return counts


def _wasserstein_normed(ref_sorted: np.ndarray, cur_sorted: np.ndarray, ref_std: np.ndarray) -> np.ndarray:
    """scipy.stats.wasserstein_distance(ref, cur) / max(std(ref), 0.001), per column (one row each).

    The first Wasserstein distance is the L1 distance between the two quantile functions. With
    n reference and m current values they are step functions that only change at k/n and l/m,
    the same points for every column: on the integer grid k*m, l*n (over n*m) each interval reads
    one fixed position of each sorted sample, so all columns take one gather and one
    matrix-vector product."""
    n, m = ref_sorted.shape[1], cur_sorted.shape[1]
    points = np.union1d(np.arange(1, n + 1, dtype=np.int64) * m, np.arange(1, m + 1, dtype=np.int64) * n)
    widths = np.diff(points, prepend=0) / (n * m)
    ref_at, cur_at = (points + m - 1) // m - 1, (points + n - 1) // n - 1
    distance = np.abs(ref_sorted[:, ref_at] - cur_sorted[:, cur_at]) @ widths
    return distance / np.maximum(ref_std, 0.001)


def numeric_drift(reference: pd.DataFrame, current: pd.DataFrame, columns: list[str], method: str | None,
                  threshold: float | None) -> dict[str, ColumnResult]:
    """Verdicts for numeric columns (see module docstring)."""
    results: dict[str, ColumnResult] = {}
    if not columns:
        return results
    # One row per column: every sort below runs over contiguous memory.
    # (pandas keeps a float block column-major, so each column is a contiguous view: one copy each.)
    ref_all = np.stack([reference[name].to_numpy(dtype=np.float64) for name in columns])
    cur_all = np.stack([current[name].to_numpy(dtype=np.float64) for name in columns])
    finite = np.isfinite(ref_all).all(axis=1) & np.isfinite(cur_all).all(axis=1)
    dense = [i for i in range(len(columns)) if finite[i]]
    for start in range(0, len(dense), CHUNK_COLUMNS):
        index = dense[start:start + CHUNK_COLUMNS]
        ref, cur = ref_all[index], cur_all[index]
        ref_sorted, cur_sorted = np.sort(ref, axis=1), np.sort(cur, axis=1)
        n_values = _n_values(ref_sorted, cur_sorted)
        tests = [_resolve(method, ref.shape[1], int(n), numeric=True) for n in n_values]
        wasserstein = [k for k, test in enumerate(tests) if test.name == "wasserstein"]
        if wasserstein:
            scores = _wasserstein_normed(ref_sorted[wasserstein], cur_sorted[wasserstein],
                                         np.std(ref[wasserstein], axis=1))
            for k, score in zip(wasserstein, scores, strict=True):
                test = tests[k]
                limit = test.default_threshold if threshold is None else threshold
                results[columns[index[k]]] = ColumnResult(
                    column=columns[index[k]], test_name=test.name, display_name=test.display_name,
                    statistic=float(score), threshold=float(limit), drifted=bool(score >= limit))
        for k, test in enumerate(tests):
            if test.name != "wasserstein":
                name = columns[index[k]]
                results[name] = _run_evidently_test(test, name, pd.Series(ref[k]), pd.Series(cur[k]),
                                                    True, threshold)
    for i in range(len(columns)):
        if not finite[i]:  # NaN/inf somewhere: clean this column alone, as Evidently does
            name = columns[i]
            ref, cur = _clean(reference[name].astype(float)), _clean(current[name].astype(float))
            n_values = int(pd.concat([ref, cur]).nunique())
            test = _resolve(method, len(ref), n_values, numeric=True)
            results[name] = _run_evidently_test(test, name, ref, cur, True, threshold)
    return {name: results[name] for name in columns}


def categorical_drift(reference: pd.DataFrame, current: pd.DataFrame, columns: list[str], method: str | None,
                      threshold: float | None) -> dict[str, ColumnResult]:
    """Verdicts for categorical columns: Evidently's own tests, column by column (few columns)."""
    results = {}
    for name in columns:
        ref, cur = reference[name].dropna(), current[name].dropna()
        n_values = int(pd.concat([ref, cur]).nunique())
        test = _resolve(method, len(ref), n_values, numeric=False)
        results[name] = _run_evidently_test(test, name, ref, cur, False, threshold)
    return results
