"""`drift_report`: compare a current batch with the champion's reference set and decide whether
retraining is due.

    affectgpt drift report --reference train_features.parquet --current feast:clip_metadata,clip_embeddings \
        --out reports/drift/2025-06-01

Numeric and categorical columns are decided by affectgpt.monitor.stats (Evidently's tests and
thresholds, computed for all columns at once); Evidently (0.7 API) runs the text content and text
descriptor tests and renders drift.html, plotting the most drifted columns (`tests.plot_columns`)
while every check is listed in the report's table. `tests.engine: evidently` runs every column
through Evidently instead (the reference the vectorised verdicts are tested against). Embedding drift uses Evidently's embedding drift methods
directly: its EmbeddingsDrift metric also fits a t-SNE for its plot, which costs tens of seconds
per embedding on a CPU; instead the first principal components are added to the report as plots.
"""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from affectgpt.manifest import MANIFEST_NAME, SkippedRecord, StepManifest, hash_file
from affectgpt.monitor.config import GROUPS, EmbeddingTest, MonitoringConfig, load_monitoring_config
from affectgpt.monitor.inputs import FEAST_PREFIX, describe_source, load_batch
from affectgpt.monitor.prepare import PreparedBatches, prepare_batches
from affectgpt.monitor.stats import ColumnResult, categorical_drift, numeric_drift
from affectgpt.monitor.summary import DRIFT_HTML, DRIFT_JSON, ColumnDrift, DriftSummary, GroupShare
from affectgpt.publish import staged_output

DESCRIPTOR_NAMES = {"length": "TextLength", "words": "WordCount", "sentences": "SentenceCount",
                    "non_letter_share": "NonLetterCharacterPercentage"}


def _descriptors(text_columns: list[str], names: list[str]) -> tuple[list, dict[str, str]]:
    """Evidently descriptors per text column, and descriptor column -> source text column."""
    from evidently import descriptors

    built, source_of = [], {}
    for column in text_columns:
        for name in names:
            alias = f"{column}.{name}"
            built.append(getattr(descriptors, DESCRIPTOR_NAMES[name])(column, alias=alias))
            source_of[alias] = column
    return built, source_of


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


def _embedding_checks(prepared: PreparedBatches, config: EmbeddingTest) -> list[ColumnDrift]:
    checks = []
    for column, (ref_matrix, cur_matrix) in prepared.embeddings.items():
        method = _embedding_method(config)
        # Evidently's methods add a label column to the frames they get: hand them fresh ones.
        score, drifted, name = method(pd.DataFrame(cur_matrix), pd.DataFrame(ref_matrix))
        label = f"{name}({config.distance})" if config.method == "distance" else name
        if config.bootstrap and config.method != "ratio":
            label += f", bootstrap q={config.quantile_probability}"
        checks.append(ColumnDrift(
            column=column, source_column=column, group="embeddings", kind="embedding", test=label,
            statistic=float(score), threshold=None if config.bootstrap else config.threshold, drifted=bool(drifted),
        ))
    return checks


def _column_checks(snapshot_dict: dict, prepared: PreparedBatches, kinds: dict[str, str],
                   source_of: dict[str, str]) -> list[ColumnDrift]:
    """Per-column results from the snapshot: the metric's value and resolved method/threshold,
    and the drift verdict from its test (Evidently knows which tests are p-values vs distances)."""
    verdicts = {test["metric_config"]["metric_id"]: test["status"] == "FAIL" for test in snapshot_dict["tests"]}
    checks = []
    for metric in snapshot_dict["metrics"]:
        params = metric["config"]
        column = params.get("column")
        if params.get("type") != "evidently:metric_v2:ValueDrift" or column not in kinds:
            continue
        kind = kinds[column]
        source = source_of.get(column, column)
        group = prepared.group_of.get(column) or prepared.group_of.get(source, "text")
        checks.append(ColumnDrift(
            column=column, source_column=source, group=group, kind=kind,  # type: ignore[arg-type]
            test=str(params.get("method")), statistic=float(metric["value"]), threshold=params.get("threshold"),
            drifted=bool(verdicts.get(metric["id"], False)), counted=kind != "embedding_component",
        ))
    return checks


def _vectorised_checks(prepared: PreparedBatches, config: MonitoringConfig,
                       source_of: dict[str, str]) -> list[tuple[ColumnDrift, ColumnResult]]:
    """Numeric and categorical verdicts from affectgpt.monitor.stats, in column order."""
    results = list(numeric_drift(prepared.reference, prepared.current, prepared.numeric,
                                 config.tests.numeric_method, config.tests.numeric_threshold).values())
    results += categorical_drift(prepared.reference, prepared.current, prepared.categorical,
                                 config.tests.categorical_method, config.tests.categorical_threshold).values()
    numeric = set(prepared.numeric)
    # Labelled as Evidently labels them: the configured method's name, else the test it picked.
    label = {"numeric": config.tests.numeric_method, "categorical": config.tests.categorical_method}
    return [(ColumnDrift(column=r.column, source_column=source_of.get(r.column, r.column),
                         group=prepared.group_of[r.column], kind=(kind := "numeric" if r.column in numeric else
                                                                  "categorical"),
                         test=label[kind] or r.display_name, statistic=r.statistic, threshold=r.threshold, drifted=r.drifted), r)
            for r in results]


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
                 "threshold": _statistic(c.threshold) if c.threshold is not None else
                 ("bootstrap" if c.kind == "embedding" else "test default"),
                 "verdict": "drifted" if c.drifted else "ok"} for c in summary.columns if c.counted],
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


def _log_to_mlflow(summary: DriftSummary, out_dir: Path, config: MonitoringConfig) -> str:
    import mlflow

    from affectgpt.train.tracking import setup_experiment  # artifacts beside a sqlite store, not ./mlruns

    setup_experiment(config.mlflow_experiment)
    with mlflow.start_run(run_name=f"drift-{datetime.now(UTC):%Y%m%d-%H%M%S}") as run:
        mlflow.log_params({"reference": summary.reference[:500], "current": summary.current[:500],
                           "n_reference": summary.n_reference, "n_current": summary.n_current})
        mlflow.log_metrics({"drifted_share": summary.drifted_share, "inconclusive": float(summary.retrain is None),
                            **({"retrain": float(summary.retrain)} if summary.retrain is not None else {}),
                            **{f"{g}_drifted_share": s.share for g, s in summary.groups.items()}})
        mlflow.set_tags({"retrain": "null" if summary.retrain is None else str(summary.retrain).lower(),
                         "verdict": summary.verdict, "step": "drift_report"})
        mlflow.log_artifacts(str(out_dir), artifact_path="drift")
        return run.info.run_id


def drift_report(
    reference: str | Path | pd.DataFrame,
    current: str | Path | pd.DataFrame,
    out_dir: str | Path,
    config_path: str | Path | None = None,
) -> DriftSummary:
    """Write drift.html, drift.json and manifest.json under `out_dir` and return the summary.

    REF/CUR are Parquet/CSV paths, `feast:VIEW[,VIEW][@REPO][?start=&end=]` specs or DataFrames.
    Logs the folder to MLflow when MLFLOW_TRACKING_URI is set. Raises DriftInputError for a batch
    that cannot be compared at all (empty, from another model); unusable columns are skipped and
    listed instead.
    """
    started = time.perf_counter()
    timings: dict[str, float] = {}
    config, config_file = load_monitoring_config(config_path)
    out = Path(out_dir)
    reference_name, current_name = describe_source(reference), describe_source(current)
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
    descriptors, descriptor_sources = _descriptors(prepared.text, config.text.descriptors)
    kinds.update({c: "text_descriptor" for c in descriptor_sources})
    source_of.update(descriptor_sources)
    if config.text.content_drift:
        kinds.update({c: "text_content" for c in prepared.text})
    resolved: set[str] = set()
    notes_extra: list[str] = []

    t0 = time.perf_counter()
    checks: list[ColumnDrift] = []
    plotted = list(kinds)
    if config.tests.engine == "vectorised":
        fast = _vectorised_checks(prepared, config, source_of)
        checks += [check for check, _ in fast]
        most_drifted = sorted((r for _, r in fast), key=lambda r: (not r.drifted, -r.severity))
        plotted = [r.column for r in most_drifted[:config.tests.plot_columns]] + \
            [c for c, kind in kinds.items() if kind not in ("numeric", "categorical")]
        resolved = {r.column for _, r in fast}
        if len(fast) > config.tests.plot_columns:
            notes_extra.append(f"drift.html plots the {config.tests.plot_columns} most drifted of {len(fast)} "
                               "numeric/categorical columns; every check is in its 'all checks' table")
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
        numerical_columns=[c for c in prepared.numeric + list(component_sources) if c in shown],
        categorical_columns=[c for c in prepared.categorical if c in shown],
        text_columns=prepared.text,
    )
    if metrics:
        # Evidently gets its own frames (descriptors are computed on them), with the columns it shows.
        frame_columns = [c for c in prepared.reference.columns if c in shown or c in prepared.text]
        ref_ds = Dataset.from_pandas(prepared.reference[frame_columns].reset_index(drop=True),
                                     data_definition=definition, descriptors=descriptors or None)
        cur_ds = Dataset.from_pandas(prepared.current[frame_columns].reset_index(drop=True),
                                     data_definition=definition, descriptors=descriptors or None)
        snapshot = Report(metrics, include_tests=True).run(cur_ds, ref_ds)
        evidently_kinds = {c: k for c, k in kinds.items() if c not in resolved}
        checks += _column_checks(snapshot.dict(), prepared, evidently_kinds, source_of)
    timings["evidently"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    checks += _embedding_checks(prepared, config.embeddings)
    timings["embeddings"] = time.perf_counter() - t0

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
        config_path=str(config_file) if config_file else None, out_dir=str(out.resolve()),
        created_at=datetime.now(UTC).isoformat(),
    )
    if not counted:
        summary.notes.append("no column could be tested: see skipped")
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
    if os.environ.get("MLFLOW_TRACKING_URI"):
        summary.mlflow_run_id = _log_to_mlflow(summary, out, config)
        summary.write(out)
    return summary
