"""Evaluate a trained model on MER-UniBench: predict one test set at a time (the `predict`
step, a GPU each on the cluster), then score every set into one report (the `score` step).

    predict_test_set(model, unibench, "meld", out/"meld")      # features, generation, baseline
    score_test_sets([out/"meld", ...], report_dir, unibench_dir=unibench)
    evaluate_unibench(model, unibench, out)                     # both, for the CLI and notebooks

Per set: the clips of `<unibench>/<dataset>/` (see `affectgpt.bench.testsets`) go through the
same frozen encoders and feature cache as training (`affectgpt.features.extract`), then
batched generation with the open-vocabulary (OV) question for every set, as the paper does:
sentiment sets are scored from the OV labels (`affectgpt.bench.metrics`). Clips whose media
cannot be decoded are listed with the reason and scored as missing answers, never dropped.
Beside the model, a baseline that needs no model (the label extractor run on the subtitle
alone) is scored on the same clips, so a reader sees whether the model adds anything.
"""

from __future__ import annotations

import json
import math
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from affectgpt.bench.datasets import DATASETS, LOCAL, DatasetError, load_dataset
from affectgpt.bench.mode import ScorerMode, ScorerModeName, scorer_mode
from affectgpt.errors import BadInput
from affectgpt.jsonline import JSONLineError, iter_lines, loads_line
from affectgpt.manifest import SkippedRecord, StepManifest, hash_tree
from affectgpt.model.decoding import Decoding, as_decoding
from affectgpt.signals import scratch_dir

STATUS_FILE = "status.json"
BASELINE_DIR = "baseline"
BASELINE_NAME = "subtitle-only"
BASELINE_PROMPT = "subtitle-baseline"
LOCAL_MANIFEST = "clip_manifest.parquet"
NO_TEST_SET_FOLDER = "no MER-UniBench test-set folder given (unibench_dir)"


@dataclass
class SetPredictions:
    """What `predict_test_set` left in its folder (also written as status.json)."""

    dataset: str
    status: str  # predicted | no_test_set | no_media
    n_gold: int = 0
    n_predicted: int = 0
    unreadable: list[dict[str, str]] = field(default_factory=list)  # clip_id, reason, detail
    notes: list[str] = field(default_factory=list)
    decoding: str = "greedy"

    def write(self, out_dir: Path) -> None:
        (out_dir / STATUS_FILE).write_text(json.dumps(self.__dict__, indent=2, ensure_ascii=False))

    @classmethod
    def read(cls, out_dir: Path) -> SetPredictions | None:
        path = Path(out_dir) / STATUS_FILE
        return cls(**json.loads(path.read_text())) if path.is_file() else None


def model_encoders(model_dir: Path):
    """The encoder config a trained model was built with (features must match the model)."""
    from affectgpt.model.config import AffectGPTConfig
    from affectgpt.model.store import read_model_config

    return AffectGPTConfig.model_validate(read_model_config(model_dir)["config"]).encoders


def default_feature_cache() -> Path:
    from affectgpt.paths import workspace_dir

    return workspace_dir() / "feature-cache" / "unibench"


def predict_test_set(model_dir: str | Path, unibench_dir: str | Path | None, dataset: str, out_dir: str | Path, *,
                     features_cache: str | Path | None = None, batch_size: int = 8,
                     decoding: Decoding | str = Decoding.GREEDY,
                     prompt: str = "ov", workers: int = 1, progress: bool = False,
                     local_dataset_dir: str | Path | None = None,
                     local_features_dir: str | Path | None = None, unibench_rev: str = "") -> SetPredictions:
    """Predictions of one set into `out_dir`: `<dataset>.jsonl` (the model), `baseline/<dataset>.jsonl`
    (subtitle only), status.json (unreadable clips with reasons) and manifest.json.

    `dataset` is one of the nine ids, read from `<unibench_dir>/<dataset>/`, or `local`: the
    held-out test split of a built corpus (`local_dataset_dir`, its features in
    `local_features_dir`). A set that is not there gives status `no_test_set` and no lines."""
    from affectgpt.train import model_folder

    decoding = as_decoding(decoding)  # refused here, before a clip is read or the model loads
    started = time.perf_counter()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    model = model_folder(Path(model_dir))
    if dataset == LOCAL:
        result = _predict_local(model, local_dataset_dir, local_features_dir, out, batch_size=batch_size,
                                decoding=decoding, prompt=prompt, progress=progress)
    else:
        if dataset not in DATASETS:
            raise DatasetError(f"unknown dataset {dataset!r}; use one of {', '.join(DATASETS)} or local")
        result = _predict_unibench(model, unibench_dir, dataset, out, features_cache=features_cache,
                                   batch_size=batch_size, decoding=decoding, prompt=prompt, workers=workers,
                                   progress=progress)
    result.write(out)
    StepManifest(
        step="bench_eval_set",
        inputs={"model": hash_tree(model), "model_path": str(model), "unibench_dir": str(unibench_dir or ""),
                "unibench_rev": unibench_rev, "dataset": dataset},
        parameters={"decoding": decoding, "prompt": prompt, "batch_size": batch_size},
        kept=result.n_predicted,
        skipped=[SkippedRecord(record_id=u["clip_id"], reason=u["reason"], detail=u.get("detail", ""))
                 for u in result.unreadable],
        outputs={"predictions": f"{dataset}.jsonl", "baseline": f"{BASELINE_DIR}/{dataset}.jsonl",
                 "status": STATUS_FILE},
        timings_s={"total": round(time.perf_counter() - started, 3)},
        extra={"status": result.status, "notes": result.notes},
    ).write(out)
    return result


def predict_test_sets(model_dir: str | Path, unibench_dir: str | Path | None, datasets: list[str],
                      out_root: str | Path, **options: Any) -> dict[str, SetPredictions]:
    """`predict_test_set` for each set in turn, into `<out_root>/<dataset>/`, in one call: a
    pipeline step that predicts several sets hands them to one (warm) process, which pays its
    imports once; each set still loads its encoders and the model itself."""
    return {name: predict_test_set(model_dir, unibench_dir, name, Path(out_root) / name, **options)
            for name in datasets}


def _predict_unibench(model: Path, unibench_dir, dataset: str, out: Path, *, features_cache, batch_size: int,
                      decoding: Decoding, prompt: str, workers: int, progress: bool) -> SetPredictions:
    import pandas as pd

    from affectgpt.bench.testsets import check_set

    result = SetPredictions(dataset, "no_test_set", decoding=decoding)
    if not unibench_dir:
        result.notes.append(NO_TEST_SET_FOLDER)
        return result
    status = check_set(unibench_dir, dataset)
    result.notes.extend(status.notes)
    if status.n_test == 0 or status.test_set is None:
        result.notes.extend(status.missing)
        return result
    test_set = status.test_set  # read once by check_set: labels, subtitles and clip files together
    result.n_gold = len(test_set.clips)
    _write_baseline(out, dataset, [(c.sample.clip_id, c.sample.subtitle or "") for c in test_set.clips])
    rows = []
    for clip, sample in ((c.files, c.sample) for c in test_set.clips):
        if clip.problem:
            where = clip.video or clip.audio or test_set.folder / "clips" / clip.clip_id
            result.unreadable.append({"clip_id": clip.clip_id, "reason": clip.problem, "detail": str(where)})
            continue
        # Absolute: the manifest is written in a scratch folder, and relative paths in a manifest
        # resolve against its folder, so `--unibench fixture/` would find no clip.
        rows.append({"clip_id": clip.clip_id, "video_path": str(clip.video.resolve()),
                     "audio_path": str(clip.audio.resolve()) if clip.audio else None, "subtitle": sample.subtitle or "",
                     "split": "test", "source": dataset})
    if not rows:
        result.status = "no_media"
        return result
    cache = Path(features_cache or default_feature_cache()) / dataset
    with scratch_dir(f"affectgpt-eval-{dataset}-") as scratch:
        manifest = Path(scratch) / LOCAL_MANIFEST
        pd.DataFrame(rows).to_parquet(manifest, index=False)
        from affectgpt.features.extract import extract_features

        extracted = extract_features(manifest, cache, model_encoders(model), workers=workers, progress=progress)
        bad = {record.record_id: record for record in extracted.skipped}
        for record in bad.values():
            result.unreadable.append({"clip_id": record.record_id, "reason": record.reason,
                                      "detail": record.detail or ""})
        data_dir = Path(scratch) / dataset
        data_dir.mkdir()
        kept = [row for row in rows if row["clip_id"] not in bad]
        if kept:
            pd.DataFrame([{"clip_id": r["clip_id"], "subtitle": r["subtitle"], "split": "test", "dataset": dataset}
                          for r in kept]).to_parquet(data_dir / "records.parquet", index=False)
            (data_dir / "features").symlink_to(cache.resolve(), target_is_directory=True)
            _predict(model, data_dir, out / f"{dataset}.jsonl", dataset=dataset, batch_size=batch_size,
                     decoding=decoding, prompt=prompt, progress=progress)
    result.n_predicted = len(kept)
    result.status = "predicted" if kept else "no_media"
    return result


def _predict(model: Path, data_dir: Path, out_path: Path, *, dataset: str, batch_size: int, decoding: Decoding,
             prompt: str, progress: bool) -> None:
    from affectgpt.train.infer import predict

    with scratch_dir("affectgpt-infer-") as scratch:
        # predict() writes its own manifest.json beside the JSONL: keep it apart from this step's.
        written = predict(model, data_dir, Path(scratch) / out_path.name, prompt=prompt, batch_size=batch_size,
                          splits=["test"], dataset=dataset, progress=progress, decoding=decoding)
        shutil.move(str(written), out_path)
        shutil.move(str(Path(scratch) / "manifest.json"), out_path.with_name(f"infer-{dataset}.manifest.json"))


def _predict_local(model: Path, dataset_dir, features_dir, out: Path, *, batch_size: int, decoding: Decoding,
                   prompt: str, progress: bool) -> SetPredictions:
    from affectgpt.data.schema import CLIP_MANIFEST_FILE, write_split_records

    result = SetPredictions(LOCAL, "no_test_set", decoding=decoding)
    manifest = Path(dataset_dir) / CLIP_MANIFEST_FILE if dataset_dir else None
    if manifest is None or not manifest.is_file():
        result.notes.append("no built corpus given, so no local held-out split")
        return result
    try:
        gold = load_dataset(f"{LOCAL}={manifest}")
    except DatasetError as exc:
        result.notes.append(f"the built corpus has no scorable test split ({exc})")
        return result
    result.n_gold = len(gold.samples)
    _write_baseline(out, LOCAL, [(s.clip_id, s.subtitle or "") for s in gold.samples])
    with scratch_dir("affectgpt-eval-local-") as scratch:
        data_dir = Path(scratch) / LOCAL
        data_dir.mkdir()
        try:
            result.n_predicted = write_split_records(manifest, data_dir / "records.parquet", "test")
        except ValueError as exc:  # no split column: the corpus has no held-out split to score
            result.notes.append(str(exc))
            return result
        if features_dir:
            (data_dir / "features").symlink_to(Path(features_dir).resolve(), target_is_directory=True)
        _predict(model, data_dir, out / f"{LOCAL}.jsonl", dataset=LOCAL, batch_size=batch_size, decoding=decoding,
                 prompt=prompt, progress=progress)
    result.status = "predicted"
    (out / LOCAL_MANIFEST).write_bytes(manifest.read_bytes())  # the gold labels travel with the predictions
    return result


def _write_baseline(out: Path, dataset: str, clips: list[tuple[str, str]]) -> None:
    """The no-model baseline's lines: the subtitle stands in for the model's answer, so the
    scorer's extractor (the same as for the model) reads emotions from the words alone."""
    (out / BASELINE_DIR).mkdir(parents=True, exist_ok=True)
    with open(out / BASELINE_DIR / f"{dataset}.jsonl", "w", encoding="utf-8") as handle:
        handle.writelines(json.dumps({"clip_id": clip_id, "dataset": dataset, "prompt_type": BASELINE_PROMPT,
                                     "output": subtitle}, ensure_ascii=False) + "\n" for clip_id, subtitle in clips)


# ------------------------------------------------------------------------------- scoring


def score_test_sets(prediction_dirs: list[str | Path], report_dir: str | Path, *, unibench_dir: str | Path | None,
                    mode: ScorerMode | ScorerModeName | str = ScorerModeName.OFFICIAL, extractor: Any = "lexicon",
                    decoding: Decoding | str | None = None, unibench_rev: str = "", datasets: list[str] | None = None):
    """One bench report over the folders `predict_test_set` wrote: the nine MER-UniBench rows
    beside the paper's Table 2 and the subtitle-only baseline, the mean over the nine, and
    `local` as an extra row (not in the mean) when a folder holds it. Every line goes through
    `extractor` (lexicon by default; `llm` on request), the model's and the baseline's alike.

    The report's decoding is the one the prediction lines name (what ran); `decoding`, when
    given, is what the caller believes ran, and a difference is refused (DecodingMismatch)."""
    from affectgpt.bench.extract import get_extractor
    from affectgpt.bench.report import write_report_files
    from affectgpt.bench.runner import excluded_records, load_gold_sets, run_bench
    from affectgpt.bench.testsets import fixture_info

    started = time.perf_counter()
    mode = scorer_mode(mode)
    expected = as_decoding(decoding) if decoding is not None else None
    report_dir = Path(report_dir)
    names = datasets or list(DATASETS)
    judge = get_extractor(extractor) if isinstance(extractor, str) else extractor
    statuses: dict[str, SetPredictions] = {}
    with scratch_dir("affectgpt-bench-collect-") as scratch:
        model_dir, baseline_dir = Path(scratch) / "model", Path(scratch) / "baseline"
        model_dir.mkdir()
        baseline_dir.mkdir()
        local_manifest = None
        for folder in map(Path, prediction_dirs):
            status = SetPredictions.read(folder)
            if status is None:
                continue
            statuses[status.dataset] = status
            for source, target in ((folder, model_dir), (folder / BASELINE_DIR, baseline_dir)):
                lines = source / f"{status.dataset}.jsonl"
                if lines.is_file():
                    shutil.copy(lines, target / lines.name)
            if status.dataset == LOCAL and (folder / LOCAL_MANIFEST).is_file():
                local_manifest = Path(scratch) / LOCAL_MANIFEST
                shutil.copy(folder / LOCAL_MANIFEST, local_manifest)
        ran = decoding_that_ran(sorted(model_dir.glob("*.jsonl")), expected)
        # Each set's labels are read once and scored twice, the model's answers and the baseline's.
        gold = (load_gold_sets(names, unibench_dir) if unibench_dir
                else {name: DatasetError(NO_TEST_SET_FOLDER) for name in names})
        options = {"mode": mode, "extractor": judge, "re_extract": True, "write_report": False, "gold": gold}
        report = run_bench(model_dir, names, report_dir, **options)
        baseline = run_bench(baseline_dir, names, report_dir, **options)
        if local_manifest is not None:
            local_spec = [f"{LOCAL}={local_manifest}"]
            options["gold"] = load_gold_sets(local_spec)
            local = run_bench(model_dir, local_spec, report_dir, **options).datasets.get(LOCAL)
            local_baseline = run_bench(baseline_dir, local_spec, report_dir, **options).datasets.get(LOCAL)
            if local is not None:
                local.display_name = "local (corpus test split)"
                local.notes.append("the built corpus's held-out clips; not a MER-UniBench set, not in the mean")
                local.baseline_value = local_baseline.value if local_baseline else None
                report.datasets[LOCAL] = local
        report.skipped.extend(baseline.skipped)
    for name, entry in report.datasets.items():
        if name in DATASETS:
            entry.display_name, entry.paper_value = DATASETS[name].display_name, DATASETS[name].paper_value
        base = baseline.datasets.get(name)
        if base is not None and base.status == "scored" and name != LOCAL:
            entry.baseline_value = base.value
            entry.baseline_interval, entry.baseline_clip_scores = base.interval, base.clip_scores
        status = statuses.get(name)
        if status is not None and status.status == "no_test_set":
            entry.notes = []  # the set's own status says why (not given, no folder, no labels)
        if status is not None:
            for note in status.notes:
                if note.startswith("fixture:"):
                    continue  # said once for the whole report
                if note not in entry.notes:
                    entry.notes.append(note)
            if status.unreadable:
                listed = ", ".join(f"{u['clip_id']} ({u['reason']})" for u in status.unreadable[:5])
                entry.notes.append(f"{len(status.unreadable)} clips with unreadable media, scored as missing "
                                   f"answers: {listed}")
        elif name != LOCAL and not unibench_dir and NO_TEST_SET_FOLDER not in entry.notes:
            entry.notes.insert(0, NO_TEST_SET_FOLDER)
    fixture = fixture_info(unibench_dir) if unibench_dir else None
    if fixture:
        report.notes.append(fixture.get("note") or "fixture: SYNTHETIC media")
    report.decoding = ran.value if ran else None
    baseline_values = [e.baseline_value for n, e in report.datasets.items()
                       if n != LOCAL and e.baseline_value is not None]
    report.baseline = {"name": BASELINE_NAME, "description": "the extractor run on the subtitle alone (no model)",
                       "mean": (sum(baseline_values) / len(baseline_values)
                                if baseline_values and not any(math.isnan(v) for v in baseline_values) else None),
                       "mean_interval": baseline.mean_interval}
    _compare_with_baseline(report, mode)
    report.lineage = {"unibench_rev": unibench_rev, "unibench_dir": str(unibench_dir or "")}
    outputs = write_report_files(report, report_dir)
    StepManifest(
        step="bench_eval",
        inputs={"unibench_rev": unibench_rev, "unibench_dir": str(unibench_dir or ""),
                "predictions": ", ".join(str(p) for p in prediction_dirs)},
        parameters={"mode": mode.name, "extractor": judge.info(), "decoding": report.decoding, "datasets": names},
        kept=sum(s.n_predicted for s in statuses.values()),
        skipped=[SkippedRecord(record_id=f"{s.dataset}/{u['clip_id']}", reason=u["reason"], detail=u.get("detail", ""))
                 for s in statuses.values() for u in s.unreadable] + excluded_records(report.datasets),
        outputs={name: str(path) for name, path in outputs.items()},
        timings_s={"total": round(time.perf_counter() - started, 3)},
        extra={"mean": report.mean, "complete": report.complete, "synthetic": bool(fixture)},
    ).write(report_dir)
    return report


def _compare_with_baseline(report, mode: ScorerMode) -> None:
    """Model minus subtitle-only baseline on the clips both answered, per set and over the
    report's mean (paired bootstrap, `affectgpt.bench.comparison`), into the report."""
    from affectgpt.bench.bootstrap import BootstrapSettings
    from affectgpt.bench.clip_scores import ClipScores
    from affectgpt.bench.comparison import compare_paired

    settings = BootstrapSettings(**{key: report.uncertainty[key] for key in
                                    ("n_resamples", "seed", "confidence", "min_clips")})
    ours = {name: ClipScores.from_json(entry.clip_scores) for name, entry in report.datasets.items()
            if entry.clip_scores and entry.baseline_clip_scores}
    theirs = {name: ClipScores.from_json(report.datasets[name].baseline_clip_scores) for name in ours}
    comparison = compare_paired(ours, theirs, list(report.mean_over), mode, settings)
    for name, difference in comparison.per_set.items():
        report.datasets[name].vs_baseline = difference.to_json()
    report.baseline["model_minus_baseline"] = {"delta_mean": comparison.delta_mean, "interval": comparison.interval,
                                               "datasets": comparison.datasets}


class DecodingMismatch(BadInput):
    """The predictions were generated with another decoding than the caller says (or with
    several): a report must name the one that ran."""


def decoding_that_ran(prediction_files: list[Path], expected: Decoding | None = None) -> Decoding | None:
    """The decoding preset the prediction lines name (`affectgpt infer` writes it on each line);
    None when no line names one. Lines that are not JSON are left to the scorer to quarantine."""
    found: dict[str, Path] = {}
    for path in prediction_files:
        for number, text in iter_lines(path):
            if isinstance(text, JSONLineError):
                continue
            try:
                line = loads_line(text, f"{path} line {number}")
            except JSONLineError:
                continue
            if isinstance(line, dict) and line.get("decoding") is not None:
                found.setdefault(str(line["decoding"]), path)
    if len(found) > 1:
        raise DecodingMismatch("the predictions were generated with several decodings ("
                               + ", ".join(f"{name} in {path}" for name, path in sorted(found.items()))
                               + "); score one decoding per report")
    ran = as_decoding(next(iter(found))) if found else None
    if expected is not None and ran is not None and ran is not expected:
        raise DecodingMismatch(f"the predictions in {found[ran.value]} were generated with decoding {ran.value}, "
                               f"not {expected.value} as asked; the report names what ran, so pass "
                               f"decoding={ran.value} or predict again with {expected.value}")
    return ran


def judge_extractor(name: str = "lexicon", judge: str = ""):
    """The label extractor by name; for `llm`, `judge` is a model folder or an endpoint URL."""
    from affectgpt.bench.extract import get_extractor

    if name != "llm":
        return get_extractor(name)
    if not judge:
        raise ValueError("extractor 'llm' needs a judge: a transformers model folder or an OpenAI-compatible URL")
    if judge.startswith(("http://", "https://")):
        return get_extractor("llm", endpoint=judge)
    return get_extractor("llm", model=Path(judge))


# ------------------------------------------------------------------------------- whole runs


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
    """What the `score` step does with the `predict` outputs it collects: each root
    holds one folder per set it predicted (one set, or all of them), and every set found is
    scored into one report. `decoding`, when given, must be what the predictions name
    (`Evaluation.decoding` says what they name)."""
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
