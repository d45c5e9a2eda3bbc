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
from statistics import NormalDist

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


RATE_CONFIDENCE = 0.95  # one-sided: the rise of a rate is at least the bound with this confidence


@dataclass
class RateRise:
    """How much a share of unusable rows (no prediction, garbled text) rose from the reference to
    the current batch: the point estimate and the lower one-sided confidence bound the check
    compares with its threshold, so a handful of rows in a small batch cannot pass for drift."""

    reference_count: int
    reference_total: int
    current_count: int
    current_total: int
    rise: float
    lower_bound: float

    @property
    def reference_share(self) -> float:
        return self.reference_count / self.reference_total if self.reference_total else 0.0

    @property
    def current_share(self) -> float:
        return self.current_count / self.current_total if self.current_total else 0.0


def _wilson(count: int, total: int, z: float) -> tuple[float, float]:
    """Wilson score interval of a proportion (well behaved at 0 and 1, unlike the Wald interval)."""
    if total == 0:
        return 0.0, 1.0
    share = count / total
    centre = (share + z * z / (2 * total)) / (1 + z * z / total)
    half = z * np.sqrt(share * (1 - share) / total + z * z / (4 * total * total)) / (1 + z * z / total)
    return max(0.0, centre - half), min(1.0, centre + half)


def rate_rise(reference_count: int, reference_total: int, current_count: int, current_total: int,
              confidence: float = RATE_CONFIDENCE) -> RateRise:
    """The rise of a share and its lower one-sided confidence bound: Newcombe's hybrid score
    interval for a difference of proportions (Newcombe 1998, method 10), from the two Wilson
    intervals."""
    z = NormalDist().inv_cdf(confidence)
    reference_share = reference_count / reference_total if reference_total else 0.0
    current_share = current_count / current_total if current_total else 0.0
    current_low, _ = _wilson(current_count, current_total, z)
    _, reference_high = _wilson(reference_count, reference_total, z)
    rise = current_share - reference_share
    lower = rise - float(np.sqrt((current_share - current_low) ** 2 + (reference_high - reference_share) ** 2))
    return RateRise(reference_count, reference_total, current_count, current_total, rise=rise, lower_bound=lower)


def random_auc_percentile(y_test: np.ndarray, p_value: float, iter_num: int = 1000, seed: int = 42) -> float:
    """Evidently's `roc_auc_random_classifier_percentile`, exactly (the same seeded random
    scores), with each ROC AUC from ranks instead of one scikit-learn call per draw (5 s -> 50 ms
    for 1000 draws): the threshold a text domain classifier must beat, kept in drift.json."""
    labels = np.asarray(y_test).astype(bool)
    n_pos, n_neg = int(labels.sum()), int((~labels).sum())
    np.random.seed(seed)  # Evidently's global seeding, reproduced draw for draw
    seeds = np.random.randint(0, iter_num * 10, size=iter_num)
    draws = np.empty((iter_num, labels.size))
    for row, draw_seed in enumerate(seeds):
        np.random.seed(draw_seed)
        draws[row] = np.random.rand(labels.size)
    ranks = draws.argsort(axis=1).argsort(axis=1) + 1.0  # no ties among continuous draws
    aucs = (ranks[:, labels].sum(axis=1) - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)
    return float(np.percentile(aucs, 100 * (1 - p_value)))


@dataclass
class TextContentResult:
    roc_auc: float
    threshold: float
    drifted: bool


def text_content_drift(reference: pd.Series, current: pd.Series, percentile: float) -> TextContentResult:
    """Evidently's percentile text-content drift (a TF-IDF domain classifier's ROC AUC against the
    `percentile` of random classifiers' on the same split), with the threshold it compared
    against, which Evidently does not return."""
    from evidently.legacy.utils.data_drift_utils import roc_auc_domain_classifier
    from sklearn.model_selection import train_test_split

    domain = pd.concat([pd.DataFrame({"text": reference, "target": 0}), pd.DataFrame({"text": current, "target": 1})])
    x_train, x_test, y_train, y_test = train_test_split(domain["text"], domain["target"], test_size=0.5,
                                                        random_state=42, shuffle=True)
    roc_auc, _, _ = roc_auc_domain_classifier(x_train, x_test, y_train, y_test)
    threshold = random_auc_percentile(y_test.to_numpy(), p_value=1 - percentile)
    return TextContentResult(roc_auc=float(roc_auc), threshold=threshold, drifted=bool(roc_auc > threshold))
