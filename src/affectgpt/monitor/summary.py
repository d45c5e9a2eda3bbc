"""The shape of `drift.json`: per-check results, group shares, the retrain decision and what was
skipped. The monitor pipeline branches on `retrain` (true, false, or null when nothing could be
tested); the notebook and reviewers read the rest."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field

from affectgpt.errors import NotFound
from affectgpt.monitor.prepare import SkippedColumn

CheckKind = Literal["numeric", "categorical", "text_content", "text_descriptor", "embedding", "embedding_component",
                    "missing_rate", "garbled_rate"]
DRIFT_JSON = "drift.json"
DRIFT_HTML = "drift.html"
SCORE_FLOOR = 1e-3  # a drift score is drawn on a log axis: a statistic far on the safe side sits here


class ColumnDrift(BaseModel):
    """One drift check. `column` is what was tested (a descriptor or component may be derived:
    `source_column` names the input column it came from)."""

    column: str
    source_column: str
    group: str
    kind: CheckKind
    test: str
    statistic: float
    threshold: float | None = None
    drifts_when: Literal["below", "above"] = Field(
        "above", description="below: a p-value, drifted under the threshold; above: a distance, ROC AUC or rate rise")
    drifted: bool
    counted: bool = Field(True, description="False for plot-only checks (embedding principal components)")
    n_reference: int | None = Field(None, description="reference values the test compared (null, +-inf, "
                                    "unanswered and garbled values left out)")
    n_current: int | None = Field(None, description="current values the test compared")
    reference_share: float | None = Field(None, description="rate checks: the share in the reference")
    current_share: float | None = Field(None, description="rate checks: the share in the current batch")
    detail: str = ""

    @property
    def score(self) -> float | None:
        """How far the statistic is past its threshold, in one direction for every test: 1 at the
        threshold, above 1 on the drifted side (threshold / p-value, distance / threshold); None
        without a threshold. What the notebook's checks chart draws."""
        if self.threshold is None or not math.isfinite(self.statistic):
            return None
        if self.drifts_when == "below":
            return self.threshold / max(self.statistic, 1e-300)
        if self.threshold <= 0:
            return 1.0 / SCORE_FLOOR if self.statistic > self.threshold else SCORE_FLOOR
        return max(self.statistic / self.threshold, SCORE_FLOOR)


class BatchLocation(BaseModel):
    """Where a batch was read from, so a review can read it again from any folder: the spec as
    given, with every location absolute (where the report was made) and relative to the report
    folder (for a project moved or copied with its reports). Both null for an in-memory table."""

    given: str
    absolute: str | None = None
    from_report: str | None = None


class GroupShare(BaseModel):
    drifted: int
    usable: int
    share: float
    threshold: float | None
    triggered: bool


class DriftSummary(BaseModel):
    reference: str
    current: str
    n_reference: int
    n_current: int
    columns: list[ColumnDrift]
    drifted_share: float = Field(description="drifted counted checks / counted checks")
    groups: dict[str, GroupShare]
    retrain: bool | None = Field(description="true: retrain; false: tested, no retraining; null: inconclusive "
                                 "(nothing could be tested: see `inconclusive`)")
    reasons: list[str] = Field(default_factory=list, description="why retraining is due (empty when not)")
    inconclusive: list[str] = Field(default_factory=list, description="why no verdict could be reached")
    notes: list[str] = Field(default_factory=list)
    skipped: list[SkippedColumn] = Field(default_factory=list)
    inputs: dict[str, BatchLocation] = Field(default_factory=dict, description="reference and current: where "
                                             "each batch was read from (see BatchLocation)")
    config_path: str | None = None
    out_dir: str
    mlflow_run_id: str | None = None
    created_at: str

    @property
    def verdict(self) -> str:
        return "inconclusive" if self.retrain is None else "retrain" if self.retrain else "no_retrain"

    @property
    def drifted_columns(self) -> list[ColumnDrift]:
        return [check for check in self.columns if check.drifted and check.counted]

    def write(self, out_dir: str | Path) -> Path:
        path = Path(out_dir) / DRIFT_JSON
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(self.model_dump(mode="json"), indent=2))
        tmp.replace(path)
        return path


REPORT_ENV = "AFFECTGPT_DRIFT_REPORT"


class DriftReportNotFound(NotFound, FileNotFoundError):
    """No drift report where one was looked for; the message lists where."""


def read_summary(report_dir: str | Path) -> DriftSummary:
    path = Path(report_dir) / DRIFT_JSON
    if not path.is_file():
        raise DriftReportNotFound(f"{path}: no drift summary; run `affectgpt drift report` first")
    return DriftSummary.model_validate_json(path.read_text())


def report_roots(start: str | Path | None = None) -> list[Path]:
    """Where reports are looked for, in order: `reports/` of the current folder (the README's
    `--out reports/drift/...`), of the project above `notebooks/` when started from there (Jupyter
    runs a notebook in its own folder), and of the workspace (`$AFFECTGPT_HOME` or `.affectgpt`).
    Nothing is created."""
    here = Path(start or Path.cwd()).resolve()
    bases = [here]
    if here.name == "notebooks":
        bases.append(here.parent)
    home = os.environ.get("AFFECTGPT_HOME")
    bases += [Path(home).expanduser().resolve()] if home else [base / ".affectgpt" for base in list(bases)]
    roots: list[Path] = []
    for base in bases:
        if base / "reports" not in roots:
            roots.append(base / "reports")
    return roots


def find_reports(roots: list[Path] | None = None) -> list[Path]:
    """Report folders (holding drift.json) under the roots, newest first."""
    found = {path.parent.resolve() for root in roots or report_roots() if root.is_dir()
             for path in root.rglob(DRIFT_JSON)}
    return sorted(found, key=lambda folder: (folder / DRIFT_JSON).stat().st_mtime, reverse=True)


def choose_report(path: str | Path | None = None, roots: list[Path] | None = None) -> Path:
    """The report to review: `path` (a report folder or its drift.json), else
    `$AFFECTGPT_DRIFT_REPORT`, else the newest under `report_roots()`."""
    chosen = str(path or os.environ.get(REPORT_ENV) or "")
    if chosen:
        folder = Path(chosen).expanduser()
        folder = folder.parent if folder.name == DRIFT_JSON else folder
        if not (folder / DRIFT_JSON).is_file():
            raise DriftReportNotFound(f"{folder}: no {DRIFT_JSON} there; pass the folder given to "
                                      "`affectgpt drift report --out`")
        return folder
    searched = roots or report_roots()
    reports = find_reports(searched)
    if not reports:
        raise DriftReportNotFound("no drift report under " + ", ".join(str(root) for root in searched)
                                  + "; run `affectgpt drift report ... --out reports/drift/<name>` or set "
                                  f"{REPORT_ENV} to a report folder")
    return reports[0]
