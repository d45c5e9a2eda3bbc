"""Step `drift_report`: Evidently drift of an incoming batch against the reference data, and
the retrain decision (`affectgpt.monitor.drift_report`)."""

from kfp import dsl
from kfp.dsl import HTML, Metrics, Output

from affectgpt_kfp.components import step_image


@dsl.component(base_image=step_image("drift_report"), install_kfp_package=False)
def drift_report(reference: str, current: str, report: Output[HTML], metrics: Output[Metrics],
                 config_path: str = "") -> bool:
    """Returns whether to retrain (a plain return value, so `dsl.If` can branch on it everywhere,
    kfp.local included); the reasons travel in the report's metadata. An inconclusive report
    (nothing testable) returns False, so no retrain starts, and says so in `verdict` and the
    `inconclusive` metric instead of passing for "no drift"."""
    from affectgpt.monitor import drift_report as report_drift

    summary = report_drift(reference, current, report.path, config_path or None)
    metrics.log_metric("drifted_share", float(summary.drifted_share))
    metrics.log_metric("inconclusive", float(summary.retrain is None))
    report.metadata.update({"retrain": bool(summary.retrain), "verdict": summary.verdict,
                            "reasons": "; ".join(summary.inconclusive or summary.reasons)})
    return summary.retrain is True
