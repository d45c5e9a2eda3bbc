"""What `notebooks/drift_review.ipynb` shows, kept here so the notebook stays a few lines and
the same code is tested: the report, its batches read again from wherever the notebook runs, the
values each check compared, and the charts.

The batches are found from the locations the report recorded (affectgpt.monitor.summary
.BatchLocation): the absolute ones first (the files where the report was made), then the ones
relative to the report folder, read against where the report is now (a project moved or copied
with its reports). Neither there: `problem` says which files are gone.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from affectgpt.manifest import MANIFEST_NAME
from affectgpt.monitor.config import MonitoringConfig, load_monitoring_config
from affectgpt.monitor.inputs import (
    DriftInputError,
    DriftInputMissing,
    anchored_spec,
    load_batch,
    missing_locations,
)
from affectgpt.monitor.summary import (
    SCORE_FLOOR,
    BatchLocation,
    ColumnDrift,
    DriftSummary,
    choose_report,
    read_summary,
)

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from affectgpt.monitor.prepare import PreparedBatches

DISTRIBUTION_KINDS = ("numeric", "categorical", "text_descriptor")
RATE_KINDS = ("missing_rate", "garbled_rate")
DRIFTED, STEADY = "#b42318", "#98a2b3"


def reload_batch(side: str, summary: DriftSummary, report_dir: Path) -> pd.DataFrame:
    """The `side` batch ("reference" or "current") of a report, read again (see module docstring).
    Raises DriftInputMissing naming every place looked at when the files are gone."""
    location = summary.inputs.get(side) or BatchLocation(given=getattr(summary, side))
    if location.absolute is None and location.from_report is None and location.given.startswith("<in-memory"):
        raise DriftInputError(f"the {side} batch was an in-memory table ({location.given}): nothing to read again")
    candidates = [spec for spec in (location.absolute,
                                    anchored_spec(location.from_report, report_dir) if location.from_report else None)
                  if spec] or [location.given]  # a report written before locations were recorded
    gone: list[str] = []
    for spec in dict.fromkeys(candidates):
        missing = missing_locations(spec)
        if not missing:
            return load_batch(spec)
        gone += missing
    raise DriftInputMissing(f"the {side} batch {location.given!r} is gone: not found at "
                            f"{', '.join(dict.fromkeys(gone))}; restore the files (or copy the project with its "
                            "reports) to see its distributions")


def report_config(report_dir: Path, summary: DriftSummary) -> MonitoringConfig:
    """The config the report was made with: the copy in its manifest, else its file, else the default."""
    manifest = report_dir / MANIFEST_NAME
    if manifest.is_file():
        parameters = json.loads(manifest.read_text()).get("parameters")
        if parameters:
            return MonitoringConfig.model_validate(parameters)
    if summary.config_path and Path(summary.config_path).is_file():
        return load_monitoring_config(summary.config_path)[0]
    return load_monitoring_config()[0]


@dataclass
class Review:
    """A report and, when its batches could be read again, the values its checks compared."""

    report_dir: Path
    summary: DriftSummary
    prepared: PreparedBatches | None
    problem: str | None  # why the batches could not be read again

    def values(self, check: ColumnDrift) -> tuple[pd.Series, pd.Series] | None:
        """The reference and current values the check compared (null, +-inf, unanswered and
        garbled values left out, as in the test); None when not available."""
        if self.prepared is None or check.kind not in DISTRIBUTION_KINDS:
            return None
        if check.column not in self.prepared.reference.columns:
            return None
        return self.prepared.reference[check.column].dropna(), self.prepared.current[check.column].dropna()


def open_review(report: str | Path | None = None) -> Review:
    """The report (`choose_report` rules) with its batches read again and prepared as the report
    prepared them."""
    from affectgpt.monitor.prepare import prepare_batches
    from affectgpt.monitor.report import add_descriptors

    report_dir = choose_report(report)
    summary = read_summary(report_dir)
    try:
        reference, current = (reload_batch(side, summary, report_dir) for side in ("reference", "current"))
    except DriftInputError as error:
        return Review(report_dir, summary, None, str(error))
    config = report_config(report_dir, summary)
    prepared = prepare_batches(reference, current, config, summary.reference, summary.current)
    add_descriptors(prepared, config.text.descriptors)
    return Review(report_dir, summary, prepared, None)


def checks_chart(summary: DriftSummary) -> Figure:
    """Every counted check as its drift score: how far its statistic is past its threshold, on
    one log axis for all tests (1 = at the threshold; right of it = drifted side; a p-value
    scores threshold / p, a distance, ROC AUC or rate rise statistic / threshold). Each bar is
    labelled with the statistic and the threshold it was compared with."""
    import matplotlib.pyplot as plt

    checks = [check for check in summary.columns if check.counted]
    fig, ax = plt.subplots(figsize=(9, 0.38 * max(len(checks), 4) + 1.2))
    names = [f"{check.column} ({check.group})" for check in checks]
    scores = [check.score for check in checks]
    drawn = [min(max(score, SCORE_FLOOR), 1e3) if score is not None else SCORE_FLOOR for score in scores]
    colours = [DRIFTED if check.drifted else STEADY for check in checks]
    ax.barh(names, [value - SCORE_FLOOR for value in drawn], left=SCORE_FLOOR, color=colours)
    ax.set_xscale("log")
    ax.set_xlim(SCORE_FLOOR, 2e3)
    ax.axvline(1.0, color="black", linestyle="--", linewidth=1)
    for row, (check, score) in enumerate(zip(checks, scores, strict=True)):
        sign = "<" if check.drifts_when == "below" else ">"
        label = (f"{check.statistic:.3g} (drifted when {sign} {check.threshold:.3g})" if check.threshold is not None
                 else f"{check.statistic:.3g} (no threshold recorded)")
        ax.text(SCORE_FLOOR * 1.3 if score is None or score < 0.05 else drawn[row] * 1.1, row, label,
                va="center", fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("drift score: statistic relative to its threshold (1 = threshold, log scale)")
    ax.set_title("checks (red: drifted; dashed: threshold)")
    fig.tight_layout()
    return fig


def distribution_chart(review: Review, check: ColumnDrift) -> Figure | None:
    """Reference vs current for one check: the values it compared (histogram or label shares),
    or the two shares of a rate check. None when there is nothing to draw."""
    import matplotlib.pyplot as plt

    if check.kind in RATE_KINDS and check.reference_share is not None and check.current_share is not None:
        fig, ax = plt.subplots(figsize=(6, 2.6))
        ax.barh(["reference", "current"], [check.reference_share, check.current_share],
                color=[STEADY, DRIFTED if check.drifted else STEADY])
        ax.set_xlim(0, 1)
        ax.set_xlabel("share of rows")
        ax.set_title(f"{check.column}: rise >= {check.statistic:.3g} (95%), drifted when > {check.threshold:.3g}")
        fig.tight_layout()
        return fig
    values = review.values(check)
    if values is None:
        return None
    reference, current = values
    fig, ax = plt.subplots(figsize=(6, 3))
    if check.kind == "categorical":
        shares = pd.DataFrame({"reference": reference.astype(str).value_counts(normalize=True),
                               "current": current.astype(str).value_counts(normalize=True)}).fillna(0)
        shares.plot.bar(ax=ax)
    else:
        ax.hist([reference.astype(float), current.astype(float)], bins=20, label=["reference", "current"], density=True)
        ax.legend()
    ax.set_title(f"{check.column}: {check.test} = {check.statistic:.3g} (n = {len(reference)} / {len(current)})")
    fig.tight_layout()
    return fig
