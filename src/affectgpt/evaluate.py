"""Evaluate a trained model on MER-UniBench (and the held-out split) and hand it to the
registry: the glue the `evaluate` and `register` pipeline steps call, usable from a notebook
or a test alike.

`evaluate_unibench` = for each MER-UniBench test set in a test-set folder
(`affectgpt.bench.testsets`) features, batched generation and the subtitle-only baseline
(`affectgpt.bench.evaluation.predict_test_set`), then one report over the nine sets
(`score_test_sets`), with the corpus's own `local` split as an extra row when given.

`score_prediction_folders` scores what the per-set prediction steps wrote, into one report.
`register_trained_model` reads the lineage (MLflow run, config hash, code version) from the
model's manifest.json so the caller only says which model, which report and which data revision.
"""

from __future__ import annotations

import json
import math
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from affectgpt.bench.mode import ScorerMode, ScorerModeName, scorer_mode
from affectgpt.manifest import hash_file, read_manifest
from affectgpt.model.decoding import Decoding, as_decoding

TAG_UNIBENCH_REV = "affectgpt.unibench_rev"  # registry lineage tag: the test sets' DVC revision


@dataclass
class Evaluation:
    scores: dict[str, float]
    mean: float | None
    undefined: list[str]  # scored, but the metric is undefined (e.g. F with precision = recall = 0)
    mode: str
    predictions_path: Path
    report_dir: Path
    decoding: str | None = None  # what the scored predictions were generated with (their lines say)


def evaluate_unibench(
    model_dir: str | Path,
    unibench_dir: str | Path | None,
    out_dir: str | Path,
    *,
    datasets: list[str] | None = None,
    mode: ScorerMode | ScorerModeName | str = ScorerModeName.OFFICIAL,
    extractor: Any = "lexicon",
    decoding: Decoding | str = Decoding.GREEDY,
    batch_size: int = 8,
    features_cache: str | Path | None = None,
    local_dataset_dir: str | Path | None = None,
    local_features_dir: str | Path | None = None,
    unibench_rev: str | None = None,
    progress: bool = True,
) -> Evaluation:
    """Predict every set, one after the other (the pipeline runs them as parallel tasks), and
    write `<out_dir>/predictions/<dataset>/` and the report in `<out_dir>/report/`."""
    from affectgpt.bench.datasets import DATASETS, LOCAL
    from affectgpt.bench.evaluation import predict_test_sets, score_test_sets
    from affectgpt.bench.testsets import unibench_revision

    mode = scorer_mode(mode)  # an unknown mode or decoding fails here, before any generation
    decoding = as_decoding(decoding)
    out_dir = Path(out_dir)
    names = list(datasets or DATASETS)
    if local_dataset_dir and LOCAL not in names:
        names.append(LOCAL)
    if unibench_rev is None:
        unibench_rev = unibench_revision(unibench_dir) if unibench_dir and Path(unibench_dir).is_dir() else ""
    predict_test_sets(model_dir, unibench_dir, names, out_dir / "predictions", features_cache=features_cache,
                      batch_size=batch_size, decoding=decoding, progress=progress,
                      local_dataset_dir=local_dataset_dir, local_features_dir=local_features_dir,
                      unibench_rev=unibench_rev)
    folders = [out_dir / "predictions" / name for name in names]
    report_dir = out_dir / "report"
    report = score_test_sets(folders, report_dir, unibench_dir=unibench_dir, mode=mode, extractor=extractor,
                             decoding=decoding, unibench_rev=unibench_rev,
                             datasets=[n for n in names if n != LOCAL])
    return evaluation_from_report(report, out_dir / "predictions", report_dir)


def score_prediction_folders(
    prediction_roots: list[str | Path],
    report_dir: str | Path,
    *,
    unibench_dir: str | Path | None = None,
    mode: ScorerMode | ScorerModeName | str = ScorerModeName.OFFICIAL,
    extractor: str = "lexicon",
    judge: str = "",
    decoding: Decoding | str | None = None,
    unibench_rev: str = "",
) -> Evaluation:
    """What the `evaluate` step does with the `evaluate_dataset` outputs it collects: each root
    holds one folder per set it predicted (one set, or all of them), and every set found is
    scored into one report. `decoding`, when given, must be what the predictions name
    (`Evaluation.decoding` says what they name)."""
    from affectgpt.bench.evaluation import judge_extractor, score_test_sets

    folders = [folder for root in prediction_roots for folder in sorted(Path(root).iterdir()) if folder.is_dir()]
    report = score_test_sets(folders, report_dir, unibench_dir=unibench_dir or None, mode=mode,
                             extractor=judge_extractor(extractor, judge), decoding=decoding, unibench_rev=unibench_rev)
    return evaluation_from_report(report, Path(report_dir), Path(report_dir))


def evaluation_from_report(report, predictions_path: Path, report_dir: Path) -> Evaluation:
    scored = {name: entry for name, entry in report.datasets.items() if entry.status == "scored"}
    scores = {name: float(entry.value) for name, entry in scored.items() if _defined(entry.value)}
    undefined = sorted(set(scored) - set(scores))
    mean = report.mean if _defined(report.mean) else None
    return Evaluation(scores, mean, undefined, report.mode, Path(predictions_path), Path(report_dir), report.decoding)


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
    import os

    from affectgpt.registry import register_candidate

    lineage = model_lineage(model_dir)
    report_json = Path(report_dir) / "report.json"
    if not report_json.is_file():
        raise FileNotFoundError(f"{report_json}: no bench report; run the evaluate step first")
    with tempfile.TemporaryDirectory(prefix="affectgpt-register-") as scratch:
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
