"""A trained model's way into the registry: its lineage (MLflow run, config hash, code version)
read from the model's manifest.json, and its bench report handed over as evidence, so the
`register` step only says which model, which report and which data revision.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

from affectgpt.manifest import hash_file, read_manifest
from affectgpt.signals import scratch_dir

TAG_UNIBENCH_REV = "affectgpt.unibench_rev"  # registry lineage tag: the test sets' DVC revision


def _defined(value: float | None) -> bool:
    """The scorer reports an undefined metric (F with precision = recall = 0) as NaN or None."""
    return value is not None and not math.isnan(value)


def model_lineage(model_dir: str | Path) -> dict[str, str]:
    """MLflow run id, config hash and code version of a trained model, from its manifest.json."""
    model_dir = Path(model_dir)
    manifest = read_manifest(model_dir)
    places = (manifest.extra, manifest.outputs, manifest.parameters, manifest.inputs)
    run_id = next((str(p[k]) for p in places for k in ("mlflow_run_id", "run_id") if p.get(k)), "")
    if not run_id:
        raise ValueError(f"{model_dir / 'manifest.json'}: no MLflow run id (extra.mlflow_run_id); "
                         "was the model trained with MLflow tracking on?")
    config_hash = next((str(p[k]) for p in places for k in ("config_hash",) if p.get(k)), "")
    config_hash = config_hash or str(manifest.inputs.get("config", ""))  # train_model: hash of the config file
    if not config_hash and (model_dir / "config.json").is_file():
        config_hash = hash_file(model_dir / "config.json")
    return {"run_id": run_id, "config_hash": config_hash, "code_rev": manifest.code_version}


def register_trained_model(
    model_dir: str | Path,
    report_dir: str | Path,
    model_name: str,
    *,
    data_rev: str,
    scorer_mode: str = "official",
    promotion_config: Path | None = None,
    unibench_rev: str = "",
    submitted_by: str | None = None,
):
    """Register the model's MLflow run as a candidate version with its bench report (stored with
    the run as evidence), data revision, code and config lineage, as the authenticated identity
    (the pipeline's) on behalf of `submitted_by` (default `AFFECTGPT_SUBMITTED_BY`, which
    `affectgpt pipeline submit` records), with the MER-UniBench test sets' revision (also read
    from the report's lineage when not given); returns the registry's CandidateResult."""
    from affectgpt.registry.register import register_candidate

    lineage = model_lineage(model_dir)
    report_json = Path(report_dir) / "report.json"
    if not report_json.is_file():
        raise FileNotFoundError(f"{report_json}: no bench report; run the score step first")
    with scratch_dir("affectgpt-register-") as scratch:
        scores = _undefined_as_unscored(report_json, Path(scratch) / "report.json")
        unibench_rev = unibench_rev or str(json.loads(report_json.read_text()).get("lineage", {}).get("unibench_rev")
                                           or "")
        return register_candidate(lineage["run_id"], model_name, scores, data_rev=data_rev,
                                  code_rev=lineage["code_rev"], config_hash=lineage["config_hash"],
                                  scorer_mode=scorer_mode, promotion_config=promotion_config,
                                  extra_tags={TAG_UNIBENCH_REV: unibench_rev} if unibench_rev else None,
                                  submitted_by=submitted_by or os.environ.get("AFFECTGPT_SUBMITTED_BY") or None)


def _undefined_as_unscored(report_json: Path, scratch_copy: Path) -> Path:
    """A dataset whose metric is undefined (the official F when precision = recall = 0) has no
    number to gate on: hand it to the registry as not scored (status `undefined_metric`), so
    the candidate is still recorded and the gate judges it with that dataset missing, instead
    of the step failing. Reports without such entries pass through unchanged."""
    report = json.loads(report_json.read_text())
    undefined = [name for name, entry in report.get("datasets", {}).items()
                 if isinstance(entry, dict) and entry.get("status") == "scored" and not _defined(entry.get("value"))]
    if not undefined:
        return report_json
    for name in undefined:
        report["datasets"][name]["status"] = "undefined_metric"
    scratch_copy.write_text(json.dumps(report))
    return scratch_copy
