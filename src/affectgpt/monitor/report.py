"""`drift_report`: compare a current batch with the champion's reference set and decide whether
retraining is due.

    affectgpt drift report --reference train_features.parquet --current feast:clip_metadata,clip_embeddings \
        --out reports/drift/2025-06-01

Numeric and categorical columns, text descriptors, text content and the shares of unusable values
(clips without a prediction, garbled texts) are decided by affectgpt.monitor.stats (Evidently's
tests and thresholds; the thresholds Evidently compares against internally are kept in
drift.json); Evidently (0.7 API) renders drift.html, plotting the most drifted columns
(`tests.plot_columns`) while every check is listed in the report's table. `tests.engine: evidently` runs every column
through Evidently instead (the reference the vectorised verdicts are tested against). Embedding drift uses Evidently's embedding drift methods
directly: its EmbeddingsDrift metric also fits a t-SNE for its plot, which costs tens of seconds
per embedding on a CPU; instead the first principal components are added to the report as plots.
"""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from affectgpt.manifest import MANIFEST_NAME, SkippedRecord, StepManifest, hash_file
from affectgpt.monitor.config import GROUPS, EmbeddingTest, MonitoringConfig, load_monitoring_config
from affectgpt.monitor.inputs import (
    FEAST_PREFIX,
    absolute_spec,
    check_files_exist,
    describe_source,
    load_batch,
    spec_relative_to,
)
from affectgpt.monitor.prepare import PreparedBatches, prepare_batches
from affectgpt.monitor.stats import (
    P_VALUE_TESTS,
    RATE_CONFIDENCE,
    ColumnResult,
    categorical_drift,
    numeric_drift,
    rate_rise,
    text_content_drift,
)
from affectgpt.monitor.summary import (
    DRIFT_HTML,
    DRIFT_JSON,
    BatchLocation,
    ColumnDrift,
    DriftSummary,
    GroupShare,
)
from affectgpt.monitor.tracking import URI_ENV, check_tracking_access, log_report
from affectgpt.publish import staged_output

DESCRIPTOR_NAMES = {"length": "TextLength", "words": "WordCount", "sentences": "SentenceCount",
                    "non_letter_share": "NonLetterCharacterPercentage"}


CHECK_ORDER = ("numeric", "categorical", "text_descriptor", "text_content", "missing_rate", "garbled_rate",
               "embedding", "embedding_component")
DEFAULT_CONTENT_PERCENTILE = 0.95  # Evidently's default for its percentile text-content drift


def _descriptor_values(texts: pd.Series, column: str, names: list[str]) -> pd.DataFrame:
    """Evidently's descriptors of the readable texts (None: empty or garbled), NaN elsewhere: a
    missing text is not a text of length 0."""
    from evidently import DataDefinition, Dataset, descriptors

    aliases = [f"{column}.{name}" for name in names]
    readable = texts.dropna()
    if readable.empty:
        return pd.DataFrame(np.nan, index=texts.index, columns=aliases)
    built = [getattr(descriptors, DESCRIPTOR_NAMES[name])(column, alias=f"{column}.{name}") for name in names]
    dataset = Dataset.from_pandas(pd.DataFrame({column: readable.astype(str)}),
                                  data_definition=DataDefinition(text_columns=[column]), descriptors=built)
    values = dataset.as_dataframe()[aliases].astype(float)
    values.index = readable.index
    return values.reindex(texts.index)


def add_descriptors(prepared: PreparedBatches, names: list[str]) -> dict[str, str]:
    """Descriptor columns of every text column, added as numeric columns; descriptor -> text column."""
    source_of: dict[str, str] = {}
    for column in prepared.text:
        for side in (prepared.reference, prepared.current):
            values = _descriptor_values(side[column], column, names)
            for alias in values.columns:
                side[alias] = values[alias]
        source_of.update({f"{column}.{name}": column for name in names})
    return source_of


def _counts(prepared: PreparedBatches, column: str) -> tuple[int, int]:
    """Values of a column each batch contributes to its test (null and +-inf are left out)."""
    def count(series: pd.Series) -> int:
        if pd.api.types.is_numeric_dtype(series):
            return int(np.isfinite(series.to_numpy(dtype=np.float64, na_value=np.nan)).sum())
        return int(series.notna().sum())

    return count(prepared.reference[column]), count(prepared.current[column])


def _text_checks(prepared: PreparedBatches, percentile: float | None) -> list[ColumnDrift]:
    """Evidently's percentile text-content drift on the readable texts, with its real threshold
    (the random classifiers' ROC AUC percentile), not the percentile itself."""
    checks = []
    for column in prepared.text:
        reference, current = prepared.reference[column].dropna(), prepared.current[column].dropna()
        result = text_content_drift(reference.astype(str), current.astype(str),
                                    percentile or DEFAULT_CONTENT_PERCENTILE)
        checks.append(ColumnDrift(
            column=column, source_column=column, group=prepared.group_of[column], kind="text_content",
            test=f"Percentile text content drift (domain classifier ROC AUC vs the "
                 f"{percentile or DEFAULT_CONTENT_PERCENTILE:.0%} percentile of random ones)",
            statistic=result.roc_auc, threshold=result.threshold, drifted=result.drifted,
            n_reference=len(reference), n_current=len(current)))
    return checks


def _rate_checks(prepared: PreparedBatches) -> list[ColumnDrift]:
    """Shares of unusable values (clips without a prediction, garbled texts): drifted when the
    share rose by more than the configured amount with 95% confidence (the rise's lower bound)."""
    checks = []
    for rate in prepared.rates:
        rise = rate_rise(rate.reference_count, rate.reference_total, rate.current_count, rate.current_total)
        checks.append(ColumnDrift(
            column=rate.column, source_column=rate.source_column, group=rate.group, kind=rate.kind,  # type: ignore[arg-type]
            test=f"rise of the share, lower {RATE_CONFIDENCE:.0%} bound",
            statistic=round(rise.lower_bound, 6), threshold=rate.max_increase,
            drifted=rise.lower_bound > rate.max_increase, n_reference=rate.reference_total,
            n_current=rate.current_total, reference_share=round(rise.reference_share, 6),
            current_share=round(rise.current_share, 6), detail=rate.detail))
    return checks


def _embedding_components(prepared: PreparedBatches, config: EmbeddingTest, seed: int) -> dict[str, str]:
    """Project each embedding on its first principal components (fit on the reference) and add
    them as numeric columns, so the HTML shows how the clouds moved. Plot-only: not counted."""
    from sklearn.decomposition import PCA

    source_of: dict[str, str] = {}
    for column, (ref_matrix, cur_matrix) in prepared.embeddings.items():
        n_components = min(config.plot_components, ref_matrix.shape[1], ref_matrix.shape[0])
        if n_components < 1 or len(ref_matrix) != len(prepared.reference) or len(cur_matrix) != len(prepared.current):
            continue  # rows without a vector: the components would not align with the other columns
        pca = PCA(n_components=n_components, random_state=seed).fit(ref_matrix)
        for side, matrix in ((prepared.reference, ref_matrix), (prepared.current, cur_matrix)):
            projected = pca.transform(matrix)
            for index in range(n_components):
                side[f"{column}.pc{index + 1}"] = projected[:, index]
        for index in range(n_components):
            source_of[f"{column}.pc{index + 1}"] = column
    return source_of


def _embedding_method(config: EmbeddingTest):
    from evidently.metrics.embeddings import DistanceDriftMethod, ModelDriftMethod, RatioDriftMethod

    if config.method == "distance":
        return DistanceDriftMethod(dist=config.distance, threshold=config.threshold, bootstrap=config.bootstrap,
                                   quantile_probability=config.quantile_probability,
                                   pca_components=config.pca_components)
    if config.method == "model":
        return ModelDriftMethod(threshold=config.threshold, bootstrap=config.bootstrap,
                                quantile_probability=config.quantile_probability,
                                pca_components=config.pca_components)
    return RatioDriftMethod(threshold=config.threshold, pca_components=config.pca_components)


def _bootstrap_threshold(ref_matrix: np.ndarray, cur_matrix: np.ndarray, config: EmbeddingTest) -> float | None:
    """The threshold Evidently's bootstrapped embedding methods compare against and do not return,
    recomputed the way they compute it (Evidently 0.7.23, embedding_drift_methods.py): the
    `quantile_probability` percentile of the distance between two random reference samples'
    means (distance), or of random classifiers' ROC AUC on the same split (model)."""
    from evidently.legacy.metrics.data_drift import embedding_drift_methods as methods
    from sklearn.model_selection import train_test_split

    if config.method == "distance":
        reference, current = pd.DataFrame(ref_matrix), pd.DataFrame(cur_matrix)
        if config.pca_components:
            reference, current = methods.get_pca_df(reference, current, config.pca_components)
        n_ref, n_cur = reference.shape[0], current.shape[0]
        ref_size, cur_size = int(n_ref ** 2 / (n_ref + n_cur)), int(n_cur * n_ref / (n_ref + n_cur))
        distance = methods.DISTANCE_DICT[config.distance]
        values = []
        for seed in range(methods.N_BOOTSTRAP):
            np.random.seed(seed)  # Evidently's global seeding, reproduced draw for draw
            ref_idx, cur_idx = np.random.choice(n_ref, ref_size), np.random.choice(n_ref, cur_size)
            values.append(distance(reference.iloc[ref_idx, :].mean(axis=0), reference.iloc[cur_idx, :].mean(axis=0)))
        return float(np.percentile(values, 100 * config.quantile_probability))
    if config.method == "model":
        target = np.r_[np.ones(len(ref_matrix)), np.zeros(len(cur_matrix))]
        _, _, _, y_test = train_test_split(np.zeros((len(target), 1)), target, test_size=0.5, random_state=42,
                                           shuffle=True)
        values = [methods.calc_roc_auc_random(y_test, seed) for seed in range(100)]
        return float(np.percentile(values, 100 * config.quantile_probability))
    return None


def _embedding_checks(prepared: PreparedBatches, config: EmbeddingTest) -> list[ColumnDrift]:
    checks = []
    for column, (ref_matrix, cur_matrix) in prepared.embeddings.items():
        method = _embedding_method(config)
        # Evidently's methods add a label column to the frames they get: hand them fresh ones.
        score, drifted, name = method(pd.DataFrame(cur_matrix), pd.DataFrame(ref_matrix))
        label = f"{name}({config.distance})" if config.method == "distance" else name
        bootstrapped = config.bootstrap and config.method != "ratio"
        if bootstrapped:
            label += f", bootstrap q={config.quantile_probability}"
        threshold = _bootstrap_threshold(ref_matrix, cur_matrix, config) if bootstrapped else config.threshold
        checks.append(ColumnDrift(
            column=column, source_column=column, group="embeddings", kind="embedding", test=label,
            statistic=float(score), threshold=threshold, drifted=bool(drifted),
            n_reference=len(ref_matrix), n_current=len(cur_matrix),
        ))
    return checks


def _column_checks(snapshot_dict: dict, prepared: PreparedBatches, kinds: dict[str, str],
                   source_of: dict[str, str]) -> list[ColumnDrift]:
    """Per-column results from the snapshot: the metric's value and resolved method/threshold,
    and the drift verdict from its test (Evidently knows which tests are p-values vs distances)."""
    verdicts = {test["metric_config"]["metric_id"]: test["status"] == "FAIL" for test in snapshot_dict["tests"]}
    p_value_names = _p_value_display_names()
    checks = []
    for metric in snapshot_dict["metrics"]:
        params = metric["config"]
        column = params.get("column")
        if params.get("type") != "evidently:metric_v2:ValueDrift" or column not in kinds:
            continue
        kind = kinds[column]
        source = source_of.get(column, column)
        group = prepared.group_of.get(column) or prepared.group_of.get(source, "text")
        n_reference, n_current = _counts(prepared, column)
        checks.append(ColumnDrift(
            column=column, source_column=source, group=group, kind=kind,  # type: ignore[arg-type]
            test=str(params.get("method")), statistic=float(metric["value"]), threshold=params.get("threshold"),
            drifts_when="below" if params.get("method") in p_value_names else "above",
            drifted=bool(verdicts.get(metric["id"], False)), counted=kind != "embedding_component",
            n_reference=n_reference, n_current=n_current,
        ))
    return checks


def _p_value_display_names() -> set[str]:
    """Evidently's display names of its p-value tests (what a snapshot names the method by)."""
    from evidently.legacy.calculations import stattests
    from evidently.legacy.calculations.stattests.registry import StatTest

    return {test.display_name for test in vars(stattests).values()
            if isinstance(test, StatTest) and test.name in P_VALUE_TESTS}


def _vectorised_checks(prepared: PreparedBatches, config: MonitoringConfig, source_of: dict[str, str],
                       numeric: list[str], categorical: list[str],
                       kinds: dict[str, str]) -> list[tuple[ColumnDrift, ColumnResult]]:
    """Numeric and categorical verdicts from affectgpt.monitor.stats, in column order."""
    results = list(numeric_drift(prepared.reference, prepared.current, numeric,
                                 config.tests.numeric_method, config.tests.numeric_threshold).values())
    results += categorical_drift(prepared.reference, prepared.current, categorical,
                                 config.tests.categorical_method, config.tests.categorical_threshold).values()
    # Labelled as Evidently labels them: the configured method's name, else the test it picked.
    label = {"numeric": config.tests.numeric_method, "text_descriptor": config.tests.numeric_method,
             "categorical": config.tests.categorical_method}
    checks = []
    for r in results:
        kind = kinds[r.column]
        source = source_of.get(r.column, r.column)
        n_reference, n_current = _counts(prepared, r.column)
        checks.append((ColumnDrift(
            column=r.column, source_column=source, group=prepared.group_of.get(r.column) or prepared.group_of[source],
            kind=kind, test=label[kind] or r.display_name, statistic=r.statistic,  # type: ignore[arg-type]
            threshold=r.threshold, drifts_when="below" if r.test_name in P_VALUE_TESTS else "above",
            drifted=r.drifted, n_reference=n_reference, n_current=n_current), r))
    return checks


def _inconclusive(checks: list[ColumnDrift], skipped: list, config: MonitoringConfig, n_reference: int,
                  n_current: int) -> list[str]:
    """Why no verdict can be reached (empty when the checks can decide): an analyst must never
    read "no drift" when nothing was tested."""
    why = []
    small = [f"{side} has {n} row(s)" for side, n in (("reference", n_reference), ("current", n_current))
             if n < config.retrain.min_test_rows]
    if small:
        why.append(f"too few rows for a drift test: {', '.join(small)} (min_test_rows {config.retrain.min_test_rows})")
    if not any(c.counted for c in checks):
        reasons = sorted({s.reason for s in skipped})
        why.append("no column could be tested" + (f" (skipped: {', '.join(reasons)})" if reasons else
                                                   " (no configured column in the batches)"))
    return why


def _decide(checks: list[ColumnDrift], config: MonitoringConfig, n_current: int) -> tuple[dict, bool, list, list]:
    groups: dict[str, GroupShare] = {}
    reasons: list[str] = []
    notes: list[str] = []
    for group in GROUPS:
        counted = [c for c in checks if c.group == group and c.counted]
        drifted = [c for c in counted if c.drifted]
        share = len(drifted) / len(counted) if counted else 0.0
        threshold = getattr(config.retrain, f"{group}_drifted_share")
        triggered = bool(counted) and threshold is not None and share >= threshold and len(drifted) > 0
        groups[group] = GroupShare(drifted=len(drifted), usable=len(counted), share=round(share, 4),
                                   threshold=threshold, triggered=triggered)
        if triggered:
            names = ", ".join(c.column for c in drifted[:8]) + (" ..." if len(drifted) > 8 else "")
            reasons.append(f"{group}: {len(drifted)} of {len(counted)} checks drifted "
                           f"({share:.0%} >= {threshold:.0%}): {names}")
    retrain = bool(reasons)
    if retrain and n_current < config.retrain.min_current_rows:
        notes.append(f"drift seen but the current batch has {n_current} rows < min_current_rows "
                     f"{config.retrain.min_current_rows}: retraining is not triggered")
        retrain = False
    if not reasons:
        notes.append("no group reached its drift threshold")
    return groups, retrain, reasons, notes


VERDICT_WORDS = {"retrain": "RETRAIN", "no_retrain": "no retraining",
                 "inconclusive": "INCONCLUSIVE: nothing was tested, this is not a 'no drift' result"}
VERDICT_COLOURS = {"retrain": "#b42318", "no_retrain": "#067647", "inconclusive": "#b54708"}


def _statistic(value: float | None) -> str:
    """A test statistic (p-value or distance, not a score): four significant digits, `–` if none."""
    from affectgpt.formatting import MISSING, is_missing

    return MISSING if is_missing(value) else f"{value:.4g}"


def _values(check: ColumnDrift) -> str:
    """What a test compared: `reference / current` values, or the two shares of a rate check."""
    from affectgpt.formatting import MISSING, percent

    if check.reference_share is not None and check.current_share is not None:
        return f"{percent(check.reference_share)} % / {percent(check.current_share)} % of {check.n_reference} / {check.n_current}"
    if check.n_reference is None or check.n_current is None:
        return MISSING
    return f"{check.n_reference} / {check.n_current}"


def _banner(summary: DriftSummary) -> str:
    """A decision block at the top of drift.html: what an analyst needs before the plots."""
    from affectgpt.templates import render

    return render(
        "drift_banner.html.j2",
        verdict=VERDICT_WORDS[summary.verdict],
        colour=VERDICT_COLOURS[summary.verdict],
        reference=summary.reference, n_reference=summary.n_reference,
        current=summary.current, n_current=summary.n_current,
        drifted_share=f"{summary.drifted_share:.0%}",
        reasons=summary.inconclusive + summary.reasons + summary.notes,
        checks=[{"column": c.column, "group": c.group, "test": c.test, "statistic": _statistic(c.statistic),
                 "threshold": (f"{'<' if c.drifts_when == 'below' else '>'} {_statistic(c.threshold)}"
                               if c.threshold is not None else "test default"),
                 "compared": _values(c), "verdict": "drifted" if c.drifted else "ok"}
                for c in summary.columns if c.counted],
        skipped=[{"column": s.column, "reason": s.reason.replace("_", " "), "detail": s.detail}
                 for s in summary.skipped],
    )


def _page(summary: DriftSummary) -> str:
    """drift.html when Evidently had nothing to plot: the decision block on its own page."""
    from affectgpt.templates import render

    return render("drift_page.html.j2", banner=_banner(summary))


def _input_id(source: str | Path | pd.DataFrame) -> str:
    if isinstance(source, (str, Path)) and not str(source).startswith(FEAST_PREFIX) and Path(source).is_file():
        return f"sha256:{hash_file(source)}"
    return describe_source(source)


def drift_report(
    reference: str | Path | pd.DataFrame,
    current: str | Path | pd.DataFrame,
    out_dir: str | Path,
    config_path: str | Path | None = None,
) -> DriftSummary:
    """Write drift.html, drift.json and manifest.json under `out_dir` and return the summary.

    REF/CUR are Parquet/CSV paths, `feast:VIEW[,VIEW][@REPO][?start=&end=]` specs or DataFrames.
    Logs the folder to MLflow when MLFLOW_TRACKING_URI is set, after asking the server first
    (affectgpt.monitor.tracking: a refusal stops the report before anything is read or written).
    Raises DriftInputError for a batch
    that cannot be compared at all (empty, from another model); unusable columns are skipped and
    listed instead.
    """
    started = time.perf_counter()
    timings: dict[str, float] = {}
    config, config_file = load_monitoring_config(config_path)
    tracking_uri = os.environ.get(URI_ENV)
    if tracking_uri:  # a server that will refuse the run says so now, before minutes of work
        check_tracking_access(tracking_uri, config.mlflow_experiment)
    out = Path(out_dir)
    reference_name, current_name = describe_source(reference), describe_source(current)
    check_files_exist(reference, current)
    reference_df, current_df = load_batch(reference), load_batch(current)
    timings["load"] = time.perf_counter() - started

    prepared = prepare_batches(reference_df, current_df, config, reference_name, current_name)
    # Imported only once the input is known to be usable: a bad batch fails in milliseconds.
    from evidently import DataDefinition, Dataset, Report
    from evidently.metrics import ValueDrift

    kinds: dict[str, str] = {c: "numeric" for c in prepared.numeric}
    kinds.update({c: "categorical" for c in prepared.categorical})
    source_of = dict(prepared.source_of)
    component_sources = _embedding_components(prepared, config.embeddings, config.seed)
    kinds.update({c: "embedding_component" for c in component_sources})
    source_of.update(component_sources)
    t0 = time.perf_counter()
    descriptor_sources = add_descriptors(prepared, config.text.descriptors)
    kinds.update({c: "text_descriptor" for c in descriptor_sources})
    source_of.update(descriptor_sources)
    if config.text.content_drift:
        kinds.update({c: "text_content" for c in prepared.text})
    notes_extra: list[str] = []

    # Our verdicts: numeric and categorical columns (unless the evidently engine decides them),
    # text descriptors, text content and the shares of unusable values.
    descriptor_columns = list(descriptor_sources)
    vectorised = config.tests.engine == "vectorised"
    fast = _vectorised_checks(prepared, config, source_of,
                              (prepared.numeric if vectorised else []) + descriptor_columns,
                              prepared.categorical if vectorised else [], kinds)
    checks: list[ColumnDrift] = [check for check, _ in fast]
    if config.text.content_drift:
        checks += _text_checks(prepared, config.text.content_threshold)
    checks += _rate_checks(prepared)
    resolved = {check.column for check in checks}
    plotted = [c for c, kind in kinds.items() if kind not in ("numeric", "categorical")]
    if vectorised:
        columns = [r for check, r in fast if check.kind in ("numeric", "categorical")]
        most_drifted = sorted(columns, key=lambda r: (not r.drifted, -r.severity))
        plotted = [r.column for r in most_drifted[:config.tests.plot_columns]] + plotted
        if len(columns) > config.tests.plot_columns:
            notes_extra.append(f"drift.html plots the {config.tests.plot_columns} most drifted of {len(columns)} "
                               "numeric/categorical columns; every check is in its 'all checks' table")
    else:
        plotted = prepared.numeric + prepared.categorical + plotted
    timings["column_tests"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    metrics = []
    for column in plotted:
        kind = kinds[column]
        # A column decided above is drawn with the same configuration, so Evidently resolves the same test.
        if kind == "categorical":
            method, threshold = config.tests.categorical_method, config.tests.categorical_threshold
        elif kind == "text_content":
            method, threshold = None, config.text.content_threshold
        else:
            method, threshold = config.tests.numeric_method, config.tests.numeric_threshold
        metrics.append(ValueDrift(column=column, method=method, threshold=threshold))
    shown = set(plotted)
    definition = DataDefinition(
        numerical_columns=[c for c in prepared.numeric + list(component_sources) + descriptor_columns if c in shown],
        categorical_columns=[c for c in prepared.categorical if c in shown],
        text_columns=[c for c in prepared.text if c in shown],
    )
    if metrics:
        # Evidently gets its own frames, with the columns it shows.
        frame_columns = [c for c in prepared.reference.columns if c in shown]
        ref_ds = Dataset.from_pandas(prepared.reference[frame_columns].reset_index(drop=True),
                                     data_definition=definition)
        cur_ds = Dataset.from_pandas(prepared.current[frame_columns].reset_index(drop=True),
                                     data_definition=definition)
        snapshot = Report(metrics, include_tests=True).run(cur_ds, ref_ds)
        evidently_kinds = {c: k for c, k in kinds.items() if c not in resolved}
        checks += _column_checks(snapshot.dict(), prepared, evidently_kinds, source_of)
    timings["evidently"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    checks += _embedding_checks(prepared, config.embeddings)
    timings["embeddings"] = time.perf_counter() - t0
    checks.sort(key=lambda check: CHECK_ORDER.index(check.kind))  # stable: column order within a kind

    groups, retrain, reasons, notes = _decide(checks, config, len(current_df))
    counted = [c for c in checks if c.counted]
    inconclusive = _inconclusive(checks, prepared.skipped, config, len(reference_df), len(current_df))
    if inconclusive:
        retrain = None
    summary = DriftSummary(
        reference=reference_name, current=current_name, n_reference=len(reference_df), n_current=len(current_df),
        columns=checks, drifted_share=round(sum(c.drifted for c in counted) / len(counted), 4) if counted else 0.0,
        groups=groups, retrain=retrain, reasons=reasons if retrain is not None else [], notes=notes,
        inconclusive=inconclusive, skipped=prepared.skipped,
        inputs={side: BatchLocation(given=name, absolute=absolute_spec(source),
                                    from_report=spec_relative_to(source, out))
                for side, name, source in (("reference", reference_name, reference), ("current", current_name, current))},
        config_path=str(Path(config_file).resolve()) if config_file else None, out_dir=str(out.resolve()),
        created_at=datetime.now(UTC).isoformat(),
    )
    if not counted:
        summary.notes.append("no column could be tested: see skipped")
    # What the shares of unusable values are (always for predictions; garbled text when there is some).
    summary.notes += [f"{check.column}: {check.detail}" for check in checks if check.kind == "missing_rate"
                      or (check.kind == "garbled_rate" and (check.reference_share or check.current_share))]
    summary.notes += notes_extra

    # drift.html, drift.json and manifest.json are one result: staged, then published together.
    with staged_output(out, owned=(DRIFT_HTML, DRIFT_JSON, MANIFEST_NAME)) as stage:
        t0 = time.perf_counter()
        html_path = stage / DRIFT_HTML
        if metrics:
            snapshot.save_html(str(html_path))
            page = html_path.read_text(encoding="utf-8")
            html_path.write_text(page.replace("<body>", "<body>" + _banner(summary), 1), encoding="utf-8")
        else:
            html_path.write_text(_page(summary), encoding="utf-8")
        summary.write(stage)
        timings["write"] = time.perf_counter() - t0
        timings["total"] = time.perf_counter() - started

        manifest = StepManifest(
            step="drift_report",
            inputs={"reference": _input_id(reference), "current": _input_id(current),
                    **({"config": f"sha256:{hash_file(config_file)}"} if config_file else {})},
            parameters=config.model_dump(mode="json"),
            kept=len(counted),
            skipped=[SkippedRecord(record_id=s.column, reason=s.reason, detail=s.detail) for s in prepared.skipped],
            outputs={"drift_html": str(out / DRIFT_HTML), "drift_json": str(out / DRIFT_JSON)},
            timings_s={key: round(value, 3) for key, value in timings.items()},
            extra={"retrain": retrain, "verdict": summary.verdict, "reasons": reasons, "inconclusive": inconclusive,
                   "drifted_share": summary.drifted_share},
        )
        manifest.write(stage)
    if tracking_uri:
        summary.mlflow_run_id = log_report(summary, out, config)
        summary.write(out)
    return summary
