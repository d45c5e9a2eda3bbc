"""Build MER-Caption from raw clips: ingest -> pre-filter -> describers -> merger -> label
extraction -> low-level filter (`mer-caption`) -> high-level filter (`mer-caption-plus`), with a
data card, a quarantine table and a manifest; optionally `dvc add` + `dvc push` of `data/`.

    from affectgpt.data.build import build_dataset
    result = build_dataset("demo/raw", "data/mer-caption", workers=2, dvc_repo=".")
"""

from __future__ import annotations

import hashlib
import json
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from affectgpt.data import dvc as dvc_ops
from affectgpt.data.build_result import BuildResult
from affectgpt.data.cache import ClipCache
from affectgpt.data.card import write_data_card
from affectgpt.data.classifiers import (
    TextClassifiers,
    load_mer2023_text,
    sentiment_from_valence,
    train_text_classifiers,
)
from affectgpt.data.clipwork import process_clips
from affectgpt.data.config import BuildConfig, load_build_config
from affectgpt.data.ingest import IngestResult, ingest
from affectgpt.data.media_facts import MEDIA_FACTS_COLUMN, media_facts_cell
from affectgpt.data.media_root import relative_media
from affectgpt.data.merger import make_merger
from affectgpt.data.postfilter import (
    av_mismatch_decision,
    high_level_decisions,
    length_bounds_from,
    length_decisions,
)
from affectgpt.data.schema import write_caption_records, write_clip_manifest
from affectgpt.data.signals import ClipSignals
from affectgpt.errors import BadInput
from affectgpt.manifest import MANIFEST_NAME, SkippedRecord, StepManifest, hash_file, hash_tree
from affectgpt.paths import reference_data_dir, workspace_dir
from affectgpt.progress import StepProgress, step_progress
from affectgpt.publish import fault_point, published, staged_output

LOW_LEVEL_STAGES = ("prefilter", "length", "av_mismatch")
HIGH_LEVEL_STAGES = ("emotion_vote", "sentiment_vote")
OUTPUT_FILES = {
    "mer_caption": "mer-caption.parquet",
    "mer_caption_plus": "mer-caption-plus.parquet",
    "clip_manifest": "clip_manifest.parquet",
    "quarantine": "quarantine.parquet",
}
# Entries of the output folder the build owns (replaced on each build); others (features/) stay.
# `length_histogram.png` is an older build's histogram: owned, so a rebuild removes it.
OWNED_OUTPUTS = (*OUTPUT_FILES.values(), "data_card.md", "data_card.html", "length_histogram.svg",
                 "length_histogram.png", "manifest.json")


class BuildError(BadInput, ValueError):
    """The build cannot start or finish (bad config, no training data, DVC layout)."""


def build_dataset(raw_dir: str | Path, out_dir: str | Path, config_path: str | Path | None = None, *,
                  workers: int = 1, dvc_repo: str | Path | None = None, config: BuildConfig | None = None,
                  show_progress: bool = False) -> BuildResult:
    """Build MER-Caption and MER-Caption+ from `raw_dir` (a clip folder or a clip manifest) into
    `out_dir`. With `dvc_repo`, `out_dir` must lie under `<dvc_repo>/data`, which is then
    `dvc add`-ed and pushed to the default remote; the revision goes into the manifest.
    `show_progress` shows the clips processed and quarantined (`affectgpt.progress`)."""
    started = time.perf_counter()
    timings: dict[str, float] = {}
    config = config or load_build_config(config_path)
    out = Path(out_dir).resolve()
    _check_dvc_layout(out, dvc_repo)
    part = describe_clips(raw_dir, config, workers=workers, show_progress=show_progress, timings=timings)
    return finish_build(raw_dir, out, part, config, workers=workers, dvc_repo=dvc_repo, timings=timings,
                        started=started)


@dataclass
class ClipPart:
    """The per-clip half of a build over some clips (all of them, or one shard's): what ingest
    kept and refused, a caption record and the signals of each clip that passed the pre-filter,
    and the clips the decoder or the pre-filter dropped. Nothing in it needs another clip, so a
    build can compute it shard by shard (`affectgpt.data.shards`)."""

    ingested: IngestResult
    records: list[dict]
    signals: dict[str, ClipSignals]
    quarantine: list[dict]
    computed: int
    n_clip_results: int


def describe_clips(raw_dir: str | Path, config: BuildConfig, *, workers: int = 1, show_progress: bool = False,
                   part: Callable[[str], bool] | None = None, timings: dict[str, float] | None = None) -> ClipPart:
    """Ingest, per-clip work (decode, signals, pre-filter, describers), merge and label
    extraction over the clips of `raw_dir` (those `part` keeps, when given: see `ingest`)."""
    timings = timings if timings is not None else {}
    cache_dir = _cache_dir(config)
    tick = time.perf_counter()
    ingested = _ingest(raw_dir, config) if part is None else ingest(raw_dir, config.ingest, part=part)
    timings["ingest"] = time.perf_counter() - tick

    tick = time.perf_counter()
    with _threads_kept():
        clip_results = _run_clip_work(ingested.clips, config, cache_dir, workers, show_progress,
                                      quarantined=len(ingested.skipped))
    timings["clips"] = time.perf_counter() - tick

    tick = time.perf_counter()
    quarantine: list[dict] = []
    records, signals = _describe_clips(ingested, clip_results, config, _extractor(config), cache_dir, quarantine)
    timings["merge_extract"] = time.perf_counter() - tick
    return ClipPart(ingested=ingested, records=records, signals=signals, quarantine=quarantine,
                    computed=sum(1 for r in clip_results.values() if r["computed"]), n_clip_results=len(clip_results))


def finish_build(raw_dir: str | Path, out_dir: str | Path, part: ClipPart, config: BuildConfig, *, workers: int = 1,
                 dvc_repo: str | Path | None = None, timings: dict[str, float] | None = None,
                 started: float | None = None, parameters: dict | None = None,
                 raw_hash: str | None = None) -> BuildResult:
    """The corpus-level half of a build over every clip's `part`: the length bounds and the
    high-level votes (which need all clips), then the tables, the data card, the quarantine and
    the manifest, published together; then `dvc add` + push with `dvc_repo`."""
    started = time.perf_counter() if started is None else started
    timings = timings if timings is not None else {}
    out = Path(out_dir).resolve()
    data_dir = _check_dvc_layout(out, dvc_repo)
    selected = filter_records(part.ingested, part.records, part.signals, list(part.quarantine), config,
                              _cache_dir(config), out, timings)
    built = _Built(raw_dir=Path(raw_dir), config=config, workers=workers, ingested=part.ingested, selected=selected,
                   computed=part.computed, n_clip_results=part.n_clip_results, parameters=parameters or {},
                   raw_hash=raw_hash)
    manifest, paths = _write_dataset(out, built, timings, started)
    dvc_rev = None
    if data_dir is not None:
        tick = time.perf_counter()
        dvc_rev = _version_with_dvc(Path(dvc_repo).resolve(), data_dir, out, manifest)
        timings["dvc"] = time.perf_counter() - tick
    return BuildResult(out_dir=out, paths=paths, counts=manifest.extra["counts"],
                       skipped_by_reason=manifest.skipped_by_reason, computed_clips=built.computed,
                       cached_clips=built.n_clip_results - built.computed,
                       timings_s={k: round(v, 3) for k, v in timings.items()}, dvc_rev=dvc_rev,
                       extra={"high_level": selected.classifier_info})


def _cache_dir(config: BuildConfig) -> Path:
    return Path(config.cache_dir).expanduser() if config.cache_dir else workspace_dir() / "build-cache"


@contextmanager
def _threads_kept() -> Iterator[None]:
    """The clip work pins its process to one torch thread (N worker processes share N cores,
    and importing silero-vad does the same), which must not outlive it: the text classifiers
    that follow run in this process alone and would otherwise encode on one core."""
    import torch

    threads = torch.get_num_threads()
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def _ingest(raw_dir: str | Path, config: BuildConfig) -> IngestResult:
    """The valid clips and the refused inputs; an empty input is an error, not an empty dataset."""
    ingested = ingest(raw_dir, config.ingest)
    if not ingested.clips and not ingested.skipped:
        raise BuildError(f"{raw_dir}: no clips found (no video files / manifest rows); "
                         "give a folder of clips with subtitles.csv or a non-empty clip manifest")
    return ingested


@dataclass
class _Built:
    """What a build made, before it is written: the input, the records and the per-clip work counts."""

    raw_dir: Path
    config: BuildConfig
    workers: int
    ingested: IngestResult
    selected: SelectedRecords
    computed: int
    n_clip_results: int
    parameters: dict = field(default_factory=dict)
    raw_hash: str | None = None  # the input's tree hash when a check already read it

    @property
    def quarantine(self) -> list[dict]:
        """Refused inputs first, then the clips the decoder and the filters dropped."""
        return [_quarantine_row(s, "ingest") for s in self.ingested.skipped] + self.selected.quarantine


def _write_dataset(out: Path, built: _Built, timings: dict[str, float],
                   started: float) -> tuple[StepManifest, dict[str, Path]]:
    """Write the tables, the data card and the manifest into a staging sibling and publish them
    with renames (affectgpt.publish): a kill leaves the previous dataset whole, never new tables
    beside an old manifest and card. Returns the manifest and the published paths."""
    tick = time.perf_counter()
    ingested, selected, quarantine = built.ingested, built.selected, built.quarantine
    records, caption, plus = selected.records, selected.caption, selected.plus
    counts = {"ingested": len(ingested.clips) + len(ingested.skipped), "valid_clips": len(ingested.clips),
              "described": len(records), "mer_caption": len(caption), "mer_caption_plus": len(plus)}
    describer_versions = {name: version for r in records for name, version in r["describers"].items()}
    raw_hash = built.raw_hash or (hash_tree(built.raw_dir) if built.raw_dir.is_dir() else hash_file(built.raw_dir))
    inputs = {"raw": f"sha256:{raw_hash}", "config": built.config.digest()}
    # Media paths are stored relative to the raw folder, so the dataset travels as an artifact
    # while the clips stay on the volume (affectgpt.data.media_root).
    media_root = ingested.data_root
    with staged_output(out, owned=OWNED_OUTPUTS) as stage:
        staged = {
            "clip_manifest": write_clip_manifest(relative_media(ingested.clips, media_root),
                                                 stage / OUTPUT_FILES["clip_manifest"]),
            "mer_caption": write_caption_records(relative_media(caption, media_root),
                                                 stage / OUTPUT_FILES["mer_caption"]),
            "mer_caption_plus": write_caption_records(relative_media(plus, media_root),
                                                      stage / OUTPUT_FILES["mer_caption_plus"]),
            "quarantine": _write_quarantine(quarantine, stage / OUTPUT_FILES["quarantine"]),
        }
        for path in staged.values():
            fault_point(f"build:wrote:{path.name}")
        staged.update(write_data_card(stage, records, caption, plus, quarantine, counts, selected.length_bounds,
                                      describer_versions, selected.classifier_info))
        fault_point("build:wrote:data_card")
        timings["write"] = time.perf_counter() - tick
        timings["total"] = time.perf_counter() - started
        manifest = StepManifest(
            step="build_dataset",
            inputs=inputs,
            parameters={"workers": built.workers, **built.parameters, "config": built.config.model_dump(mode="json")},
            kept=len(plus),
            skipped=[SkippedRecord(record_id=row["clip_id"], reason=row["reason"],
                                   detail=f"{row['stage']}: {row['detail']}") for row in quarantine],
            outputs={name: f"sha256:{hash_file(path)}" for name, path in sorted(staged.items())},
            timings_s={k: round(v, 3) for k, v in timings.items()},
            extra={"counts": counts, "describers": describer_versions, "high_level": selected.classifier_info,
                   "length_bounds": selected.length_bounds, "computed_clips": built.computed,
                   "cached_clips": built.n_clip_results - built.computed, "notes": ingested.notes,
                   "media_root": str(media_root) if media_root else None},
        )
        manifest.write(stage)
        fault_point("build:wrote:manifest.json")
    return manifest, {name: out / path.name for name, path in staged.items()}


@dataclass
class SelectedRecords:
    """Described clips and what the filters kept: `caption` (low-level) and `plus` (high-level)."""

    records: list[dict]
    caption: list[dict]
    plus: list[dict]
    quarantine: list[dict]
    length_bounds: dict | None
    classifier_info: dict


def select_records(ingested: IngestResult, clip_results: dict[str, dict], config: BuildConfig, extractor,
                   cache_dir: Path, out: Path, timings: dict[str, float]) -> SelectedRecords:
    """Merge the clues, extract labels and run the post-filters over the per-clip results: the
    part of a build that grows with the corpus once the clips are cached, kept linear in it
    (keyed dicts and sets, no list scans per record)."""
    tick = time.perf_counter()
    quarantine: list[dict] = []
    records, signals = _describe_clips(ingested, clip_results, config, extractor, cache_dir, quarantine)
    timings["merge_extract"] = time.perf_counter() - tick
    return filter_records(ingested, records, signals, quarantine, config, cache_dir, out, timings)


def filter_records(ingested: IngestResult, records: list[dict], signals: dict[str, ClipSignals],
                   quarantine: list[dict], config: BuildConfig, cache_dir: Path, out: Path,
                   timings: dict[str, float]) -> SelectedRecords:
    """The post-filters over every described clip: the length bounds and the high-level votes
    are corpus-level (quantiles, classifiers trained on the corpus), so they run once over all
    clips, never per shard. `quarantine` holds the earlier refusals and gains the filters' own."""
    tick = time.perf_counter()
    descriptions = {r["clip_id"]: r["description"] for r in records}
    length, length_bounds = length_decisions(descriptions, config.postfilter.length_quantiles,
                                             _length_reference(config, out, descriptions))
    for record in records:
        record["filters"]["length"] = length[record["clip_id"]]
        record["filters"]["av_mismatch"] = (
            av_mismatch_decision(signals[record["clip_id"]], config.postfilter.min_speech_face_overlap)
            if config.postfilter.av_mismatch else {"kept": True, "reason": "disabled"})
    caption = [r for r in records if all(r["filters"][s]["kept"] for s in LOW_LEVEL_STAGES)]
    classifier_info = _high_level_filter(records, caption, signals, config, ingested, cache_dir)
    plus = [r for r in caption if all(r["filters"][s]["kept"] for s in HIGH_LEVEL_STAGES)]
    for record in records:
        for stage, decision in record["filters"].items():
            if not decision["kept"] and not decision["reason"].startswith("not_run"):
                quarantine.append({"clip_id": record["clip_id"], "stage": stage,
                                   "reason": decision["reason"].split(":")[0], "detail": decision["reason"]})
                break  # the first stage that dropped the clip is its reason
    timings["postfilter"] = time.perf_counter() - tick

    return SelectedRecords(records=records, caption=caption, plus=plus, quarantine=quarantine,
                           length_bounds=length_bounds, classifier_info=classifier_info)


def _describe_clips(ingested: IngestResult, clip_results: dict[str, dict], config: BuildConfig, extractor,
                    cache_dir: Path, quarantine: list[dict]) -> tuple[list[dict], dict[str, ClipSignals]]:
    """A caption record (merged description, labels, sentiment) per clip that decoded and passed
    the pre-filter, with its signals; the others go to `quarantine`. Each decoded clip's row
    of the clip manifest gains what was measured in its media (`affectgpt.data.media_facts`)."""
    records, signals = [], {}
    merger = make_merger(config.merger, extractor)
    merge_cache = ClipCache(cache_dir)
    for clip in ingested.clips:
        result = clip_results[clip["clip_id"]]
        if result["error"]:
            reason, detail = result["error"]
            quarantine.append({"clip_id": clip["clip_id"], "stage": "decode", "reason": reason, "detail": detail})
            continue
        clip[MEDIA_FACTS_COLUMN] = media_facts_cell(result.get("media_hash", ""), result["signals"],
                                                    config.prefilter.vad_threshold)
        if not result["prefilter"]["kept"]:
            quarantine.append({"clip_id": clip["clip_id"], "stage": "prefilter",
                               "reason": result["prefilter"]["reason"], "detail": result["prefilter"]["detail"]})
            continue
        signals[clip["clip_id"]] = ClipSignals.from_json(result["signals"])
        clues = {"audio": result["clues"]["audio"], "visual": result["clues"]["visual"], "text": clip["subtitle"]}
        description = _merge(merger, clues, merge_cache)
        records.append({
            "clip_id": clip["clip_id"], "clues": clues, "description": description,
            "ov_labels": extractor.extract_labels(description),
            "sentiment": extractor.extract_sentiment(description),
            "describers": {**result["describers"], f"merger:{merger.name}": merger.version,
                           f"extractor:{extractor.name}": extractor.version},
            "filters": {"prefilter": {"kept": True, "reason": ""}},
            "subtitle": clip["subtitle"], "split": clip["split"],
            "video_path": clip["video_path"], "audio_path": clip.get("audio_path"),
        })
    return records, signals


def _high_level_filter(records: list[dict], caption: list[dict], signals: dict[str, ClipSignals],
                       config: BuildConfig, ingested: IngestResult, cache_dir: Path) -> dict:
    """The emotion and sentiment votes over the low-level survivors (`caption`), written into
    each record's filters (`disabled`, or `not_run` for clips a low-level filter dropped);
    returns what the classifiers were trained on."""
    classifier_info: dict = {"enabled": config.postfilter.high_level.enabled}
    if config.postfilter.high_level.enabled and caption:
        classifiers = _classifiers(config, ingested, cache_dir)
        classifier_info.update(trained_on=classifiers.trained_on, n_train=classifiers.n_train,
                               emotion_classes=classifiers.emotion.classes)
        from affectgpt.bench.wheels import labels_agree

        decisions = high_level_decisions(caption, signals, classifiers,
                                         config.postfilter.high_level.use_face_classifier, labels_agree)
        for record in caption:
            record["filters"].update(decisions[record["clip_id"]])
    else:
        for record in records:
            for stage in HIGH_LEVEL_STAGES:
                record["filters"][stage] = {"kept": True, "reason": "disabled"}
    in_caption = {id(record) for record in caption}  # identity, not a dict comparison per pair
    for record in records:
        if id(record) not in in_caption:
            for stage in HIGH_LEVEL_STAGES:
                record["filters"].setdefault(stage, {"kept": False, "reason": "not_run: dropped by a low-level filter"})
    return classifier_info


def _length_reference(config: BuildConfig, out: Path, descriptions: dict[str, str]) -> dict | None:
    """The length bounds every build of this output folder uses (see PostfilterConfig): fixed
    in the configuration, or those of the corpus's first build (recorded in its manifest and
    data card), or None to take this batch's own quantiles."""
    settings = config.postfilter
    if settings.length_bounds_chars is not None:
        low, high = settings.length_bounds_chars
        return {"low_chars": float(low), "high_chars": float(high), "quantiles": None, "source": "configuration"}
    if settings.length_reference == "batch":
        return None
    previous = published(out) / MANIFEST_NAME
    if previous.is_file():
        try:
            recorded = json.loads(previous.read_text()).get("extra", {}).get("length_bounds") or {}
        except (OSError, ValueError):
            recorded = {}
        if recorded.get("low_chars") is not None and recorded.get("quantiles") == list(settings.length_quantiles):
            return recorded  # the first build's bounds, carried from build to build
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return length_bounds_from(descriptions, settings.length_quantiles, f"first build of this corpus ({when})")


def _check_dvc_layout(out: Path, dvc_repo: str | Path | None) -> Path | None:
    if dvc_repo is None:
        return None
    repo = Path(dvc_repo).resolve()
    if not (repo / ".dvc").is_dir():
        raise BuildError(f"{repo}: not a DVC repository (no .dvc/); run `git init && dvc init` there first")
    data_dir = repo / "data"
    try:
        out.relative_to(data_dir)
    except ValueError:
        raise BuildError(f"{out}: with --dvc the output folder must be under {data_dir} (tracked by data.dvc)") from None
    return data_dir


def _version_with_dvc(repo: Path, data_dir: Path, out: Path, manifest: StepManifest) -> str:
    """`dvc add data` + push; the manifest records that revision (the build's outputs), then is
    added and pushed too, so `data.dvc` ends at a revision that also holds the manifest."""
    remote = dvc_ops.default_remote(repo)
    parent_rev = dvc_ops.data_revision(repo, data_dir.name)
    outputs_rev = dvc_ops.add_and_push(repo, data_dir.name, push=remote is not None)
    manifest.inputs["dvc_parent_rev"] = parent_rev or "none"
    manifest.extra["dvc"] = {"tracked": data_dir.name, "parent_rev": parent_rev, "outputs_rev": outputs_rev,
                             "remote": remote, "pushed": remote is not None}
    manifest.write(out)
    return dvc_ops.add_and_push(repo, data_dir.name, push=remote is not None)


def _extractor(config: BuildConfig):
    from affectgpt.bench.extract import get_extractor

    return get_extractor(config.extractor)


def _run_clip_work(clips: list[dict], config: BuildConfig, cache_dir: Path, workers: int,
                   show_progress: bool, quarantined: int = 0) -> dict[str, dict]:
    """Per-clip work in this process and `workers - 1` spawned ones (`clipwork.process_clips`),
    each keeping its models loaded; workers=1 runs in this process. The progress counts the
    clips processed, the quarantined ones (from `quarantined` refused at ingest) and those
    served whole from the cache."""
    if not clips:
        return {}
    results: dict[str, dict] = {}
    tally: Counter[str] = Counter(quarantined=quarantined, cached=0)
    with step_progress("build dataset", len(clips), unit="clip", enabled=show_progress) as bar:

        def keep(result: dict) -> None:
            results[result["clip_id"]] = result
            _report_clip(bar, tally, result)

        process_clips(clips, config, str(cache_dir), workers, keep)
    return results


def _report_clip(bar: StepProgress, tally: Counter[str], result: dict) -> None:
    """One processed clip on the progress display, with the clips quarantined so far (a decode
    error or the pre-filter; the post-filters run later over all clips) and the kept ones served
    whole from the cache."""
    dropped = bool(result["error"]) or not result["prefilter"]["kept"]
    tally["quarantined"] += dropped
    tally["cached"] += not dropped and not result["computed"]
    bar.update(1, quarantined=tally["quarantined"], cached=tally["cached"])


def _merge(merger, clues: dict[str, str], cache: ClipCache) -> str:
    key = hashlib.sha256(json.dumps(clues, sort_keys=True).encode()).hexdigest()
    cached = cache.get(f"merge-{merger.name}", merger.version, key)
    if cached is None:
        cached = {"text": merger.merge(clues)}
        cache.put(f"merge-{merger.name}", merger.version, key, cached)
    return cached["text"]


def reference_classifier_rows(reference: Path, max_rows: int, seed: int) -> pd.DataFrame:
    """The rows the high-level filter's classifiers train on with `train_data: reference`: a
    seeded sample of `max_rows` MER2023 train-split transcripts, less those that are clips of a
    MER-UniBench test set (MER2023's train split holds the OV-MERD check set). Sampling first
    keeps the classifier a subset of the one trained before the test clips were left out, so
    the verdicts on a corpus's clips move as little as they can."""
    from affectgpt.data.reference_corpus import benchmark_test_clip_ids

    table = load_mer2023_text(reference)
    table = table[table["split"] == "train"]
    if len(table) > max_rows:
        table = table.sample(n=max_rows, random_state=seed)
    return table[~table["name"].isin(benchmark_test_clip_ids(reference))]


def _classifiers(config: BuildConfig, ingested: IngestResult, cache_dir: Path) -> TextClassifiers:
    settings = config.postfilter.high_level
    reference = reference_data_dir(required=False)
    source = settings.train_data
    if source == "auto":
        source = "reference" if reference is not None else "clips"
    if source == "reference":
        if reference is None:
            raise BuildError("postfilter.high_level.train_data=reference but the reference data is missing; "
                             "set AFFECTGPT_REFERENCE_DATA or use train_data: clips")
        table = reference_classifier_rows(reference, settings.max_train_rows, settings.seed)
        trained_on = f"MERBench MER2023 train transcripts, no MER-UniBench test clip ({len(table)} rows)"
    else:
        labelled = [c for c in ingested.clips if c.get("emotion") and c.get("split") == "train"]
        table = pd.DataFrame({"text": [c["subtitle"] for c in labelled], "emotion": [c["emotion"] for c in labelled],
                              "sentiment": [sentiment_from_valence(c.get("valence")) for c in labelled]})
        trained_on = f"labelled train split of the input clips ({len(table)} rows)"
        if len(table) < 4:
            raise BuildError("the high-level filter needs labelled training data: give clips with emotion/valence "
                             "labels (labels.csv), point AFFECTGPT_REFERENCE_DATA at the reference data, or set "
                             "postfilter.high_level.enabled: false")
    try:
        return train_text_classifiers(table, trained_on, cache_dir / "classifiers", settings.seed)
    except ValueError as exc:
        raise BuildError(f"high-level filter: {exc}") from None


def _quarantine_row(skipped: SkippedRecord, stage: str) -> dict:
    return {"clip_id": skipped.record_id, "stage": stage, "reason": skipped.reason, "detail": skipped.detail}


def _write_quarantine(rows: list[dict], path: Path) -> Path:
    frame = pd.DataFrame(rows, columns=["clip_id", "stage", "reason", "detail"])
    tmp = path.with_name(path.name + ".tmp")
    frame.to_parquet(tmp, index=False)
    tmp.replace(path)
    return path
