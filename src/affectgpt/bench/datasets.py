"""The 9 MER-UniBench test sets (and a `local` set from a clip manifest) as gold samples.

Each adapter reads the public label format (MERBench `label*.csv`, the CSV equivalent of its
`label*.npz`: `split,name,emo,val`; OV-MERD `name,openset`), selects the test split the
AffectGPT evaluation uses, joins transcripts, and reports what is missing (label file,
transcripts, media) instead of failing later. Bad rows are quarantined with a reason.

Paths are relative to a labels root: the research reference data (`AFFECTGPT_REFERENCE_DATA`)
by default, whose layout mirrors the MERTools repository. A MER-UniBench test-set folder
(`<unibench_dir>/<dataset>/labels.csv` + `transcripts.csv`) has its own loader,
`affectgpt.bench.testsets.load_test_set`, which parses the same format with `load_merbench`.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from affectgpt.bench.answered import read_source
from affectgpt.errors import BadInput, ExitCode, NotFound
from affectgpt.manifest import SkippedRecord
from affectgpt.paths import reference_data_dir

MERBENCH = "zeroQiaoba-MERTools/MERBench/dataset"


class DatasetError(BadInput, ValueError):
    """A dataset cannot be read; the message names the file and what to do."""


class DatasetMissing(DatasetError, NotFound):
    """A label file, test-set or predictions folder that does not exist (exit 4, as every
    missing input); still a DatasetError, so a run records it per dataset as before."""

    exit_code = ExitCode.NOT_FOUND


class OtherDataThanAnswered(DatasetError):
    """`local=...` names other data than the predictions answer: an error, not a missing set,
    because scoring it would count every clip never asked as unanswered."""


@dataclass(frozen=True)
class DatasetSpec:
    name: str
    display_name: str
    task: str  # "hit" | "sentiment" | "ov"
    label_file: str  # relative to the labels root
    split: str | None = None  # value of the `split` column that is the test set
    transcript_file: str | None = None
    emotion_names: tuple[str, ...] | None = None  # integer `emo` -> name
    paper_value: float | None = None  # AffectGPT, paper Table 2 (fraction)
    note: str = ""


DATASETS: dict[str, DatasetSpec] = {
    spec.name: spec
    for spec in [
        DatasetSpec("mer2023", "MER2023", "hit", f"{MERBENCH}/mer2023-dataset-process/label-6way.csv", "test1",
                    f"{MERBENCH}/mer2023-dataset-process/transcription-engchi-polish.csv", paper_value=0.7854),
        DatasetSpec("mer2024", "MER2024", "hit", f"{MERBENCH}/mer2024-dataset-process/label-6way.csv", "test1",
                    f"{MERBENCH}/mer2024-dataset-process/transcription-engchi-polish.csv", paper_value=0.7880),
        DatasetSpec("meld", "MELD", "hit", f"{MERBENCH}/meld-process/label.csv", "test",
                    f"{MERBENCH}/meld-process/transcription-engchi-polish.csv",
                    emotion_names=("anger", "joy", "sadness", "neutral", "disgust", "fear", "surprise"),
                    paper_value=0.5565),
        DatasetSpec("iemocapfour", "IEMOCAP", "hit", f"{MERBENCH}/iemocap-process/label_4way.csv", None,
                    f"{MERBENCH}/iemocap-process/transcription-engchi-polish.csv",
                    emotion_names=("happy", "sad", "neutral", "anger"), paper_value=0.6054,
                    note="test set = Session 5 of the 4-class labels"),
        DatasetSpec("cmumosi", "CMU-MOSI", "sentiment", f"{MERBENCH}/cmumosi-process/label.csv", "test",
                    f"{MERBENCH}/cmumosi-process/transcription-engchi-polish.csv", paper_value=0.8130),
        DatasetSpec("cmumosei", "CMU-MOSEI", "sentiment", f"{MERBENCH}/cmumosei-process/label.csv", "test",
                    f"{MERBENCH}/cmumosei-process/transcription-engchi-polish.csv", paper_value=0.8090),
        DatasetSpec("sims", "CH-SIMS", "sentiment", f"{MERBENCH}/sims-process/label.csv", "test",
                    f"{MERBENCH}/sims-process/transcription-engchi-polish.csv", paper_value=0.8849),
        DatasetSpec("simsv2", "CH-SIMS v2", "sentiment", f"{MERBENCH}/simsv2-process/label.csv", "test",
                    f"{MERBENCH}/simsv2-process/transcription-engchi-polish.csv", paper_value=0.8618),
        DatasetSpec("ovmerdplus", "OV-MERD+", "ov", "zeroQiaoba-MERTools/MER2024/ov_store/check-openset.csv",
                    paper_value=0.6252,
                    note="default labels: the 332-sample OV-MERD check set; point at OV-MERD+ to reproduce"),
    ]
}
PAPER_MEAN = 0.7477
LOCAL = "local"


@dataclass
class GoldSample:
    clip_id: str
    gt: Any  # str (basic emotion), float (valence) or list[str] (OV labels)
    subtitle: str | None = None


@dataclass
class BenchDataset:
    name: str
    display_name: str
    task: str
    samples: list[GoldSample]
    label_path: Path
    skipped: list[SkippedRecord] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    paper_value: float | None = None

    @property
    def gold(self) -> dict[str, GoldSample]:
        return {sample.clip_id: sample for sample in self.samples}


def display_name(name: str) -> str:
    """A dataset id as the paper names it (`mer2023` -> `MER2023`); other names unchanged."""
    return DATASETS[name].display_name if name in DATASETS else name


def dataset_names() -> list[str]:
    return [*DATASETS, LOCAL]


def check_dataset_name(name: str) -> str:
    base = name.split("=", 1)[0]
    if base not in DATASETS and base != LOCAL:
        raise DatasetError(f"unknown dataset {name!r}; use one of {', '.join(dataset_names())} "
                           "(local, local=DATA_DIR or local=PATH.parquet)")
    return base


def load_dataset(name: str, labels_root: str | Path | None = None, label_path: str | Path | None = None,
                 media_dir: str | Path | None = None, local_task: str | None = None,
                 predictions_dir: str | Path | None = None) -> BenchDataset:
    """Gold test samples of one dataset. `name` may be `local` (the data `affectgpt infer` answered,
    read from `<predictions_dir>/local.source.json`), `local=DATA_DIR` or `local=PATH.parquet`."""
    base = check_dataset_name(name)
    if base == LOCAL:
        path = label_path or (name.split("=", 1)[1] if "=" in name else None)
        dataset = load_local_answered(path, predictions_dir, task=local_task)
        _drop_repeated_names(dataset)
    else:
        spec = DATASETS[base]
        if label_path is None:
            root = Path(labels_root) if labels_root else reference_data_dir(required=False)
            if root is None:
                raise DatasetError(
                    f"{base}: no labels root; set AFFECTGPT_REFERENCE_DATA or pass --labels DIR "
                    f"(expects {spec.label_file} inside it)"
                )
            label_path = root / spec.label_file
            transcript_path = root / spec.transcript_file if spec.transcript_file else None
        else:
            transcript_path = None
        dataset = load_merbench(base, Path(label_path), transcript_path)
    if media_dir is not None:
        _check_media(dataset, Path(media_dir))
    return dataset


def _drop_repeated_names(dataset: BenchDataset) -> None:
    """A clip named twice in the labels is scored once (its first row); the rest is quarantined."""
    seen: set[str] = set()
    kept = []
    for sample in dataset.samples:
        if sample.clip_id in seen:
            dataset.skipped.append(SkippedRecord(record_id=sample.clip_id, reason="duplicate_id",
                                                 detail=f"{dataset.label_path}: {sample.clip_id} labelled again; "
                                                        "the first row is scored"))
            continue
        seen.add(sample.clip_id)
        kept.append(sample)
    dataset.samples = kept


def _read_rows(path: Path, required: tuple[str, ...]) -> list[dict[str, str]]:
    if not path.is_file():
        raise DatasetMissing(f"label file {path} not found")
    with open(path, newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        missing = [column for column in required if column not in (reader.fieldnames or [])]
        if missing:
            raise DatasetError(f"{path}: missing column {missing[0]!r} (expected columns: {', '.join(required)})")
        return list(reader)


def load_merbench(name: str, label_path: Path, transcript_path: Path | None) -> BenchDataset:
    """Gold test samples of one of the nine sets from its MERBench label CSV (and transcripts,
    when given): the one parser of the label format, whichever folder layout holds the file
    (the reference data here, a test-set folder in `affectgpt.bench.testsets`)."""
    dataset = _load_merbench(DATASETS[name], label_path, transcript_path)
    _drop_repeated_names(dataset)
    return dataset


def _load_merbench(spec: DatasetSpec, label_path: Path, transcript_path: Path | None) -> BenchDataset:
    if not label_path.is_file():
        raise DatasetMissing(
            f"{spec.name}: label file {label_path} not found; put the MERBench label CSV "
            f"({'name,openset' if spec.task == 'ov' else 'split,name,emo,val'}) there, or pass --labels DIR"
        )
    dataset = BenchDataset(spec.name, spec.display_name, spec.task, [], label_path, paper_value=spec.paper_value)
    if spec.note:
        dataset.notes.append(spec.note)
    if spec.task == "ov":
        for line, row in enumerate(_read_rows(label_path, ("name", "openset")), start=2):
            if not row["name"]:
                dataset.skipped.append(SkippedRecord(record_id=f"{label_path.name}:{line}", reason="missing_name"))
                continue
            dataset.samples.append(GoldSample(row["name"], row["openset"]))
    else:
        for line, row in enumerate(_read_rows(label_path, ("split", "name", "emo", "val")), start=2):
            if not _in_test_split(spec, row):
                continue
            record = f"{label_path.name}:{line}"
            try:
                gt = _gold_value(spec, row)
            except ValueError as exc:
                dataset.skipped.append(SkippedRecord(record_id=record, reason="bad_label", detail=str(exc)))
                continue
            dataset.samples.append(GoldSample(row["name"], gt))
        if not dataset.samples:
            raise DatasetError(f"{label_path}: no rows in the test split ({spec.split or 'Session 5'})")
    _join_transcripts(dataset, transcript_path)
    return dataset


def _in_test_split(spec: DatasetSpec, row: dict[str, str]) -> bool:
    if spec.name == "iemocapfour":  # the AffectGPT split: Sessions 1-4 train, Session 5 test
        return len(row["name"]) > 4 and row["name"][4] == "5"
    return row["split"] == spec.split


def _gold_value(spec: DatasetSpec, row: dict[str, str]) -> Any:
    if spec.task == "sentiment":
        try:
            value = float(row["val"])
        except ValueError:
            raise ValueError(f"column 'val' is not a number: {row['val']!r}") from None
        if not math.isfinite(value):
            raise ValueError(f"column 'val' is {value}, not a finite number")
        return value
    emo = row["emo"].strip()
    if spec.emotion_names is not None:
        try:
            return spec.emotion_names[int(float(emo))]
        except (ValueError, IndexError):
            raise ValueError(f"column 'emo' is not a class index 0..{len(spec.emotion_names) - 1}: {emo!r}") from None
    if not emo:
        raise ValueError("column 'emo' is empty")
    return emo


def _join_transcripts(dataset: BenchDataset, transcript_path: Path | None) -> None:
    if transcript_path is None:
        return
    if not transcript_path.is_file():
        dataset.notes.append(f"transcripts missing: {transcript_path} not found (labels are still scored)")
        return
    with open(transcript_path, newline="", encoding="utf-8") as handle:
        subtitles = {row["name"]: row.get("english") or "" for row in csv.DictReader(handle)}
    missing = 0
    for sample in dataset.samples:
        sample.subtitle = subtitles.get(sample.clip_id)
        missing += sample.subtitle is None
    if missing:
        dataset.notes.append(f"{missing} of {len(dataset.samples)} test samples have no transcript")


def _check_media(dataset: BenchDataset, media_dir: Path) -> None:
    missing = [
        s.clip_id for s in dataset.samples
        if not any((media_dir / f"{s.clip_id}{ext}").is_file() for ext in (".mp4", ".avi", ".mkv", ".wav"))
    ]
    if missing:
        dataset.notes.append(
            f"{len(missing)} of {len(dataset.samples)} test samples have no media in {media_dir} "
            f"(first: {', '.join(missing[:3])})"
        )


# --- local clip manifest -----------------------------------------------------------------


def answered_source(predictions_dir: str | Path | None, name: str = LOCAL) -> dict[str, Any] | None:
    """What `affectgpt infer` recorded it answered for `<name>.jsonl` (data, records, splits), if
    it wrote `<name>.source.json` (older prediction files have none)."""
    try:
        return read_source(predictions_dir, name)
    except ValueError as exc:
        raise DatasetError(str(exc)) from None


def load_local_answered(path: str | Path | None, predictions_dir: str | Path | None = None,
                        task: str | None = None) -> BenchDataset:
    """The `local` row: gold labels for exactly the clips the predictions answer. With no path,
    the data and split(s) recorded by `affectgpt infer`; with a path, the recorded split(s) (the
    test split when none was recorded and the path is other data), and every gold clip must be
    one infer answered (else unasked clips would count as unanswered and the score would mean
    nothing): `OtherDataThanAnswered` says what to pass instead."""
    source = answered_source(predictions_dir)
    if source is None:
        if path is None:
            raise DatasetError("dataset 'local' needs a clip-manifest Parquet or a data folder: write "
                               "local=DATA_DIR (the folder `affectgpt infer --data` read) or local=PATH.parquet, "
                               "or score predictions `affectgpt infer` wrote (they record their data)")
        return load_local(path, task=task)
    answered_data, answered_records = Path(source["data"]), Path(source["records"])
    recorded = tuple(source["splits"]) if source.get("splits") else None
    if path is None:
        return load_local(answered_data, task=task, splits=recorded)
    path = Path(path)
    same_data = path.resolve() in (answered_data, answered_records)
    splits = recorded if recorded or same_data else ("test",)
    dataset = load_local(path, task=task, splits=splits)
    answered = set(source.get("clip_ids") or ())
    unasked = [sample.clip_id for sample in dataset.samples if sample.clip_id not in answered]
    if unasked and not same_data:
        split_words = f"split {', '.join(recorded)}" if recorded else "every split"
        raise OtherDataThanAnswered(
            f"{Path(predictions_dir) / 'local.jsonl'} answers {split_words} of {answered_records} "
            f"({source.get('n_clips', '?')} clips), not {path}: {len(unasked)} of its {len(dataset.samples)} "
            f"labelled clips were never asked (first: {', '.join(unasked[:3])}) and would count as unanswered. "
            f"Pass --datasets local={answered_data} (or just `local`), or rerun `affectgpt infer --data` "
            "on the data you want scored")
    return dataset


_LOCAL_TASK_COLUMNS = {"ov": "ov_labels", "hit": "emotion", "sentiment": "valence"}


def load_local(path: str | Path, task: str | None = None, splits: tuple[str, ...] | None = ("test",)) -> BenchDataset:
    """Gold samples from a data folder (its records file, the one `affectgpt infer --data` reads) or
    a Parquet file (a clip manifest or records file, DESIGN.md): rows of `splits` (None: all;
    a row's split as inference sees it, `affectgpt.train.data.record_split`) with a label in the
    task's column (`ov_labels` -> ov, `emotion` -> hit, `valence` -> sentiment; auto picks the
    first present in that order). Rows without a label are quarantined as `no_label`."""
    import pyarrow.parquet as pq

    from affectgpt.train.data import DataError, find_records_file, labels_as_written, record_split

    path = Path(path)
    if path.is_dir():
        try:
            path = find_records_file(path)
        except DataError as exc:
            raise DatasetError(f"local dataset: {exc}") from None
    elif not path.is_file():
        raise DatasetMissing(f"local dataset: {path} not found (give a data folder or a clip-manifest .parquet)")
    # Read as stored, not through data.schema.read_clip_manifest: `path` may be a caption-records
    # file (what infer answered), not only a clip manifest.
    table = pq.read_table(path)
    columns = set(table.column_names)
    for required in ("clip_id",):
        if required not in columns:
            raise DatasetError(f"{path}: missing column {required!r}; is this a clip manifest?")
    rows = table.to_pylist()
    if splits is not None:
        rows = [row for row in rows if record_split(row) in splits]
        if not rows:
            raise DatasetError(f"{path}: no rows in split {', '.join(splits)}")
    if task is None:
        task = next((t for t, c in _LOCAL_TASK_COLUMNS.items()
                     if c in columns and any(row.get(c) is not None for row in rows)), None)
        if task is None:
            raise DatasetError(f"{path}: no label column (ov_labels, emotion or valence) has values")
    if task not in _LOCAL_TASK_COLUMNS:
        raise DatasetError(f"local dataset: unknown task {task!r}; use ov, hit or sentiment")
    column = _LOCAL_TASK_COLUMNS[task]
    if column not in columns:
        raise DatasetError(f"{path}: task {task} needs column {column!r}")
    where = f"{path.parent.name}/{path.name}" + (f", split {', '.join(splits)}" if splits else "")
    dataset = BenchDataset(LOCAL, f"local ({where})", task, [], path)
    for row in rows:
        value = row.get(column)
        if task == "ov" and isinstance(value, str):
            value = labels_as_written(value)  # records files may keep OV labels as text
        if value is None or (isinstance(value, float) and math.isnan(value)):
            dataset.skipped.append(SkippedRecord(record_id=str(row["clip_id"]), reason="no_label",
                                                 detail=f"column {column!r} is empty"))
            continue
        if isinstance(value, float) and not math.isfinite(value):
            dataset.skipped.append(SkippedRecord(record_id=str(row["clip_id"]), reason="bad_label",
                                                 detail=f"{path}: column {column!r} is {value}, not a finite number"))
            continue
        dataset.samples.append(GoldSample(str(row["clip_id"]), list(value) if task == "ov" else value,
                                          row.get("subtitle")))
    if not dataset.samples:
        raise DatasetError(f"{path}: no rows" + (f" in split {', '.join(splits)}" if splits else "")
                           + f" have a value in {column!r}")
    return dataset
