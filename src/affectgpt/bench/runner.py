"""Score a folder of prediction files on MER-UniBench and write the report.

    affectgpt bench run --predictions preds/ --datasets mer2023,meld,ovmerdplus --out out/

Predictions are one JSONL file per dataset (`<dataset>.jsonl`, lines as in DESIGN.md:
clip_id, dataset, prompt_type, output, extracted_labels, extractor). Lines with
`extracted_labels` are scored as given; the others go through the extractor. Bad lines are
quarantined with a reason; a gold clip without a prediction is scored as an empty answer
(never dropped, so a model cannot gain by skipping hard clips). A gold clip the set's metric
leaves out (a zero valence in a sentiment set, a neutral clip of a HIT set: no emotion wheel
holds `neutral`) is listed in the report with the metric's reason (`excluded_clips`), in the
set's notes and in the manifest's skipped records, never just missing from `n_scored`.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from affectgpt.bench.bootstrap import BootstrapSettings, interval, mean_replicates, replicates
from affectgpt.bench.clip_scores import clip_scores
from affectgpt.bench.datasets import (
    DATASETS,
    BenchDataset,
    DatasetError,
    DatasetMissing,
    OtherDataThanAnswered,
    check_dataset_name,
)
from affectgpt.bench.extract import LabelExtractor, get_extractor
from affectgpt.bench.metrics import MetricResult, Unscored, score_task
from affectgpt.bench.mode import OFFICIAL, ScorerMode, scorer_mode
from affectgpt.bench.report import excluded_note, write_report_files
from affectgpt.bench.report_model import BenchReport, DatasetReport
from affectgpt.bench.testsets import load_gold
from affectgpt.jsonline import JSONLineError, iter_lines, loads_line
from affectgpt.manifest import MANIFEST_NAME, SkippedRecord, StepManifest, hash_file, hash_tree
from affectgpt.publish import fault_point, staged_output

__all__ = ["BenchReport", "DatasetReport", "GoldSets", "Prediction", "excluded_clips", "excluded_records",
           "load_gold_sets", "read_predictions", "run_bench", "score_dataset"]

GoldSets = Mapping[str, BenchDataset | DatasetError]
"""Gold samples already read, by the dataset name `run_bench` is given (a set that could not be
read keeps its error, reported as the set's `missing_labels` note)."""


def load_gold_sets(datasets: list[str], labels: str | Path | None = None,
                   predictions_dir: str | Path | None = None) -> dict[str, BenchDataset | DatasetError]:
    """Read each dataset's gold samples once, for several `run_bench` calls over the same sets
    (the model's and the baseline's answers): the label files are parsed here and nowhere else.
    `OtherDataThanAnswered` is raised, not kept: it is a wrong request, not a missing set."""
    gold: dict[str, BenchDataset | DatasetError] = {}
    for name in datasets:
        try:
            gold[name] = load_gold(name, labels, predictions_dir)
        except OtherDataThanAnswered:
            raise
        except DatasetError as exc:
            gold[name] = exc
    return gold


@dataclass
class Prediction:
    clip_id: str
    labels: list[str]
    sentiment: str | None


def read_predictions(path: Path, dataset: BenchDataset, extractor: LabelExtractor,
                     re_extract: bool = False) -> tuple[dict[str, Prediction], list[SkippedRecord]]:
    """Predictions of one file keyed by clip_id, and the quarantined lines."""
    gold = dataset.gold
    predictions: dict[str, Prediction] = {}
    skipped: list[SkippedRecord] = []
    first_line: dict[str, int] = {}
    for line_number, line in iter_lines(path):
        record_id = f"{path.name}:{line_number}"
        if isinstance(line, JSONLineError):
            skipped.append(SkippedRecord(record_id=record_id, reason=line.reason, detail=str(line)))
            continue
        try:
            record = loads_line(line, f"{path} line {line_number}")
        except JSONLineError as exc:
            skipped.append(SkippedRecord(record_id=record_id, reason=exc.reason, detail=str(exc)))
            continue
        if not isinstance(record, dict):
            skipped.append(SkippedRecord(record_id=record_id, reason="malformed_json", detail="not an object"))
            continue
        clip_id = record.get("clip_id")
        if isinstance(clip_id, int) and not isinstance(clip_id, bool):
            clip_id = str(clip_id)  # 1 and "1" name the same clip
        if not isinstance(clip_id, str) or not clip_id:
            skipped.append(SkippedRecord(record_id=record_id, reason="missing_field", detail="clip_id"))
            continue
        if clip_id in first_line:  # the first line of a clip is scored; later ones are quarantined
            skipped.append(SkippedRecord(record_id=record_id, reason="duplicate_id",
                                         detail=f"{clip_id}: already on line {first_line[clip_id]}"))
            continue
        first_line[clip_id] = line_number
        if record.get("dataset") not in (None, dataset.name):
            skipped.append(SkippedRecord(record_id=record_id, reason="wrong_dataset",
                                         detail=f"dataset={record.get('dataset')!r} in {dataset.name}.jsonl"))
            continue
        if clip_id not in gold:
            skipped.append(SkippedRecord(record_id=record_id, reason="unknown_clip", detail=clip_id))
            continue
        labels = record.get("extracted_labels")
        output = record.get("output")
        if labels is None or re_extract:
            if not isinstance(output, str):
                skipped.append(SkippedRecord(record_id=record_id, reason="missing_field",
                                             detail="output (and no extracted_labels)"))
                continue
            labels = extractor.extract_labels(output)
        elif not isinstance(labels, (list, str)):
            skipped.append(SkippedRecord(record_id=record_id, reason="bad_field",
                                         detail="extracted_labels must be a list or a string"))
            continue
        if isinstance(labels, list):
            labels = [str(label) for label in labels]
        sentiment = extractor.extract_sentiment(labels) if dataset.task == "sentiment" else None
        predictions[clip_id] = Prediction(clip_id, labels, sentiment)
    return predictions, skipped


def score_dataset(dataset: BenchDataset, predictions: dict[str, Prediction], mode: ScorerMode, level: int,
                  wheels: str) -> MetricResult:
    return score_task(dataset.task, _samples(dataset, predictions), mode=mode, level=level, wheels=wheels,
                      keep_samples=False)


def excluded_clips(dataset: BenchDataset, unscored: list[Unscored]) -> list[dict[str, str]]:
    """The gold clips the metric left out, by clip id, with its reason and detail (`Unscored`
    positions index `dataset.samples`, the order `_samples` hands them to the metric)."""
    return [{"clip_id": dataset.samples[entry.position].clip_id, "reason": entry.reason, "detail": entry.detail}
            for entry in unscored]


def excluded_records(reports: Mapping[str, DatasetReport]) -> list[SkippedRecord]:
    """The excluded gold clips of every set as manifest records (`<set>/<clip id>`): skipped by
    the metric, beside the quarantined lines, so the manifest accounts for every gold clip."""
    return [SkippedRecord(record_id=f"{name}/{clip['clip_id']}", reason=clip["reason"], detail=clip["detail"])
            for name, entry in reports.items() for clip in entry.excluded]


def _samples(dataset: BenchDataset, predictions: dict[str, Prediction]) -> list[dict[str, Any]]:
    """Every gold clip with its prediction (an empty answer where there is none)."""
    samples = []
    for gold in dataset.samples:
        prediction = predictions.get(gold.clip_id)
        if dataset.task == "sentiment":
            pred: Any = prediction.sentiment if prediction else ""
        else:
            pred = prediction.labels if prediction else []
        samples.append({"name": gold.clip_id, "gt": gold.gt, "pred": pred})
    return samples


def run_bench(
    predictions_dir: str | Path,
    datasets: list[str],
    report_dir: str | Path,
    mode: ScorerMode | str = OFFICIAL,
    extractor: LabelExtractor | str | None = None,
    labels: str | Path | None = None,
    level: int = 1,
    wheels: str | None = None,
    re_extract: bool = False,
    write_report: bool = True,
    gold: GoldSets | None = None,
    bootstrap: BootstrapSettings | None = None,
) -> BenchReport:
    """Score `<predictions_dir>/<dataset>.jsonl` for each dataset and write report.json,
    report.html, PNG charts and manifest.json into `report_dir`. `labels` is the labels root
    (default: the reference data) or a test-set folder; a dataset may be given as
    `local=PATH.parquet`. `gold` hands in sets already read (`load_gold_sets`); the others are
    read here. Every score gets a 95 % interval (`bootstrap`, default `BootstrapSettings()`),
    and its per-clip scores are kept in the report so the interval can be recomputed."""
    started = time.perf_counter()
    mode = scorer_mode(mode)
    for name in datasets:
        check_dataset_name(name)
    wheels = wheels or mode.wheels_version
    if extractor is None or isinstance(extractor, str):
        extractor = get_extractor(extractor or "lexicon")
    predictions_dir = Path(predictions_dir)
    if not predictions_dir.is_dir():
        raise DatasetMissing(f"predictions folder {predictions_dir} not found")
    bootstrap = bootstrap or BootstrapSettings()
    resamples: dict[str, Any] = {}
    reports: dict[str, DatasetReport] = {}
    all_skipped: list[SkippedRecord] = []
    inputs: dict[str, str] = {"predictions": hash_tree(predictions_dir)} if write_report else {}
    kept = 0
    for spec_name in datasets:
        base = spec_name.split("=", 1)[0]
        try:
            known = gold.get(spec_name) if gold is not None else None
            if isinstance(known, DatasetError):
                raise known
            dataset = known or load_gold(spec_name, labels, predictions_dir)
        except OtherDataThanAnswered:
            raise  # not a missing set: the command was asked to score clips that were never answered
        except DatasetError as exc:
            reports[base] = DatasetReport(base, base, "", "missing_labels", notes=[str(exc)])
            continue
        if write_report:
            inputs[f"labels:{base}"] = hash_file(dataset.label_path)
        report = DatasetReport(dataset.name, dataset.display_name, dataset.task, "scored",
                               n_gold=len(dataset.samples), paper_value=dataset.paper_value,
                               notes=list(dataset.notes))
        all_skipped.extend(dataset.skipped)
        prediction_path = predictions_dir / f"{dataset.name}.jsonl"
        if not prediction_path.is_file():
            report.status = "missing_predictions"
            report.notes.append(f"{prediction_path} not found")
            reports[dataset.name] = report
            continue
        predictions, skipped = read_predictions(prediction_path, dataset, extractor, re_extract)
        all_skipped.extend(skipped)
        kept += len(predictions)
        if not predictions:  # an empty or wholly bad file is not a score of 0
            report.status = "no_samples"
            report.n_skipped = len(skipped)
            report.notes.append(f"{prediction_path}: no usable prediction line ({len(skipped)} quarantined); "
                                "nothing was scored")
            reports[dataset.name] = report
            continue
        result = score_dataset(dataset, predictions, mode, level, wheels)
        report.metric = result.metric
        report.value = result.score
        report.n_scored = result.n_scored
        report.n_predictions = len(predictions)
        report.n_missing_predictions = len(dataset.samples) - len(predictions)
        report.n_skipped = len(skipped)
        report.excluded = excluded_clips(dataset, result.unscored)
        report.n_excluded = len(report.excluded)
        if report.excluded:
            report.notes.append(excluded_note(report.excluded))
        report.secondary = result.secondary
        report.per_wheel = {k: v.to_json() for k, v in result.per_wheel.items()}
        clips = clip_scores(dataset.task, _samples(dataset, predictions), mode, level, wheels)
        resamples[dataset.name] = replicates(clips, mode, bootstrap, dataset.name)
        report.clip_scores = clips.to_json()
        report.interval = interval(resamples[dataset.name], bootstrap.confidence)
        report.too_few_clips = report.n_scored < bootstrap.min_clips
        if report.n_missing_predictions:
            report.notes.append(f"{report.n_missing_predictions} gold clips had no prediction (scored as empty)")
        reports[dataset.name] = report
    values = {n: r.value for n, r in reports.items() if r.status == "scored" and r.value is not None}
    mean = sum(values.values()) / len(values) if values and not any(math.isnan(v) for v in values.values()) else None
    bench = BenchReport(
        mode=mode.name, level=level, wheels=wheels, extractor=extractor.info(), datasets=reports, mean=mean,
        mean_over=sorted(values), complete=set(DATASETS) <= set(values), skipped=all_skipped,
        report_dir=Path(report_dir), uncertainty=bootstrap.describe(),
        mean_interval=(interval(mean_replicates([resamples[name] for name in sorted(values)]), bootstrap.confidence)
                       if mean is not None else None),
    )
    if write_report:
        out = Path(report_dir)
        # report.json/html, the charts and the manifest are one result: staged, then published
        # together (affectgpt.publish), so a reader never pairs a new report with old charts.
        with staged_output(out, owned=("report.json", "report.html", "*.png", MANIFEST_NAME)) as stage:
            outputs = write_report_files(bench, stage)
            fault_point("bench:wrote:report")
            StepManifest(
                step="bench",
                inputs=inputs,
                parameters={"datasets": datasets, "mode": mode.name, "level": level, "wheels": wheels,
                            "extractor": extractor.info(), "re_extract": re_extract},
                kept=kept,
                skipped=all_skipped + excluded_records(reports),
                outputs={name: str(out / path.name) for name, path in outputs.items()},
                timings_s={"total": round(time.perf_counter() - started, 3)},
                extra={"mean": mean, "complete": bench.complete},
            ).write(stage)
    return bench
