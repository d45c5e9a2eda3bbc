"""The MER-UniBench test-set folder that users fill with their licensed clips.

    <unibench>/
      <dataset>/                 one of the nine ids of `affectgpt bench run` (mer2023, meld, ...)
        labels.csv               the public label file, as MERBench ships it (split,name,emo,val;
                                 OV-MERD+: name,openset); only the test split is scored
        transcripts.csv          name,english[,chinese] (MERBench transcription-engchi-polish.csv)
        clips/<name>.mp4         the clip: video with its audio (.mp4/.avi/.mkv/.mov/.webm)
        clips/<name>.wav         optional: the clip's audio; used instead of the video's sound track
      fixture.json               only in a fixture made by `bench make-fixture` (synthetic media)

`<name>` is the `name` column of labels.csv. The folder can be DVC-tracked like the training
corpus (`dvc add unibench`); its revision (`unibench_rev`) is recorded in every report and on
the registered model version. `check_sets` says per dataset what is there and what is missing,
so a user sees it before a GPU hour is spent.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from pathlib import Path

from affectgpt.bench.datasets import (
    DATASETS,
    LOCAL,
    MERBENCH,
    BenchDataset,
    DatasetError,
    DatasetMissing,
    GoldSample,
    check_dataset_name,
    load_dataset,
    load_merbench,
)
from affectgpt.data.revision import content_revision

LABELS_FILE = "labels.csv"
TRANSCRIPTS_FILE = "transcripts.csv"
CLIPS_DIR = "clips"
FIXTURE_FILE = "fixture.json"
# A fixture's clips per set by default (`bench make-fixture`, `pipeline run --local`): the reports
# call a set scored on fewer than 20 clips "too few clips to compare" (affectgpt.bench.bootstrap)
# and the demo gate requires 20 (configs/promotion-demo.yaml).
FIXTURE_CLIPS_PER_SET = 20
VIDEO_SUFFIXES = (".mp4", ".avi", ".mkv", ".mov", ".webm")
AUDIO_SUFFIX = ".wav"


@dataclass
class ClipFiles:
    clip_id: str
    video: Path | None
    audio: Path | None

    @property
    def problem(self) -> str | None:
        """Why the clip cannot be decoded, as a media reason code, or None."""
        if self.video is None and self.audio is None:
            return "missing_file"
        if self.video is None:
            return "no_video"  # the encoders need frames; an audio-only clip is reported, not guessed
        return None


@dataclass
class SetStatus:
    """What one `<unibench>/<dataset>/` folder holds."""

    dataset: str
    display_name: str
    folder: Path
    n_test: int = 0
    n_media: int = 0
    n_subtitles: int = 0
    missing: list[str] = field(default_factory=list)  # what a user has to add, one line each
    notes: list[str] = field(default_factory=list)  # facts about the set (fixture, dataset notes)
    test_set: UnibenchSet | None = None  # what was read, for a caller that goes on to use it

    @property
    def clips(self) -> list[ClipFiles]:
        return [clip.files for clip in self.test_set.clips] if self.test_set else []

    @property
    def ready(self) -> bool:
        return self.n_test > 0 and self.n_media == self.n_test

    def to_json(self) -> dict:
        return {"dataset": self.dataset, "folder": str(self.folder), "n_test": self.n_test, "n_media": self.n_media,
                "n_subtitles": self.n_subtitles, "missing": self.missing, "notes": self.notes, "ready": self.ready}


def clip_files(set_dir: Path, clip_id: str) -> ClipFiles:
    clips = Path(set_dir) / CLIPS_DIR
    video = next((clips / f"{clip_id}{suffix}" for suffix in VIDEO_SUFFIXES
                  if (clips / f"{clip_id}{suffix}").is_file()), None)
    audio = clips / f"{clip_id}{AUDIO_SUFFIX}"
    return ClipFiles(clip_id, video, audio if audio.is_file() else None)


def fixture_info(unibench_dir: str | Path) -> dict | None:
    """The fixture's own description (`fixture.json`) when the folder is a synthetic fixture."""
    path = Path(unibench_dir) / FIXTURE_FILE
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise DatasetError(f"{path}: not valid JSON ({exc}); remake the fixture with `affectgpt bench make-fixture`")


@dataclass
class GoldClip:
    """One labelled test clip and the files that hold it, paired by clip id (never by position)."""

    sample: GoldSample
    files: ClipFiles


@dataclass
class UnibenchSet:
    """What `<unibench_dir>/<dataset>/` holds, read once: the gold samples (labels.csv joined
    with transcripts.csv) and each sample's clip files. Every reader of a test-set folder (the
    status check, prediction, scoring) takes its labels from here."""

    name: str
    folder: Path
    dataset: BenchDataset
    clips: list[GoldClip]


def is_test_set_folder(labels_root: str | Path, name: str) -> bool:
    """Whether `labels_root` holds `name` in the test-set layout (`<root>/<name>/labels.csv`)
    rather than the MERTools layout of the reference data."""
    root = Path(labels_root)
    return not ((root / MERBENCH.split("/")[0]).is_dir() or (root / DATASETS[name].label_file).is_file())


def load_test_set(unibench_dir: str | Path, name: str) -> UnibenchSet:
    """The one loader of `<unibench_dir>/<name>/`: labels.csv and transcripts.csv are parsed
    here, once, and each gold sample is paired with its clip files."""
    set_dir = Path(unibench_dir) / name
    if not (set_dir / LABELS_FILE).is_file():
        raise DatasetMissing(f"{name}: {set_dir / LABELS_FILE} not found; copy the dataset's public label CSV "
                           f"({'name,openset' if DATASETS[name].task == 'ov' else 'split,name,emo,val'}) there")
    dataset = load_merbench(name, set_dir / LABELS_FILE, set_dir / TRANSCRIPTS_FILE)
    return UnibenchSet(name, set_dir, dataset, [GoldClip(sample, clip_files(set_dir, sample.clip_id))
                                            for sample in dataset.samples])


def load_gold(spec_name: str, labels_root: str | Path | None = None,
              predictions_dir: str | Path | None = None) -> BenchDataset:
    """Gold samples of a dataset named as `affectgpt bench run --datasets` names it, from a
    test-set folder when `labels_root` is one, else from the reference-data layout (or the
    `local` data) through `affectgpt.bench.datasets.load_dataset`."""
    base = check_dataset_name(spec_name)
    if base != LOCAL and labels_root and is_test_set_folder(labels_root, base):
        return load_test_set(labels_root, base).dataset
    return load_dataset(spec_name, labels_root=labels_root, predictions_dir=predictions_dir)


def check_set(unibench_dir: str | Path, name: str) -> SetStatus:
    """Status of one dataset folder; every problem is a line in `missing`, never an exception."""
    spec = DATASETS[name]
    set_dir = Path(unibench_dir) / name
    status = SetStatus(name, spec.display_name, set_dir)
    try:
        fixture = fixture_info(unibench_dir) or {}
    except DatasetError as exc:
        status.missing.append(str(exc))
        fixture = {}
    fixture_note = (fixture.get("datasets") or {}).get(name, {}).get("note")
    if fixture:
        status.notes.append("fixture: real labels and subtitles, SYNTHETIC media")
    if fixture_note:
        status.notes.append(fixture_note)
    if not set_dir.is_dir():
        status.missing.append(f"folder {set_dir} not found")
        return status
    try:
        test_set = load_test_set(unibench_dir, name)
    except DatasetError as exc:
        status.missing.append(str(exc))
        return status
    except (UnicodeDecodeError, csv.Error) as exc:  # not a UTF-8 CSV: say which file, keep checking the rest
        status.missing.append(f"{set_dir / LABELS_FILE} or {TRANSCRIPTS_FILE}: not a readable UTF-8 CSV ({exc})")
        return status
    status.test_set = test_set
    dataset = test_set.dataset
    status.notes.extend(dataset.notes)
    status.n_test = len(dataset.samples)
    status.n_subtitles = sum(bool(sample.subtitle) for sample in dataset.samples)
    if dataset.skipped:
        status.missing.append(f"{len(dataset.skipped)} label rows unusable (first: {dataset.skipped[0].record_id} "
                              f"{dataset.skipped[0].reason})")
    if not (set_dir / TRANSCRIPTS_FILE).is_file():
        status.missing.append(f"{set_dir / TRANSCRIPTS_FILE} not found (name,english): clips get no subtitle")
    elif status.n_subtitles < status.n_test:
        status.missing.append(f"{status.n_test - status.n_subtitles} test clips have no subtitle in {TRANSCRIPTS_FILE}")
    status.n_media = sum(clip.problem is None for clip in status.clips)
    by_problem: dict[str, list[str]] = {}
    for clip in status.clips:
        if clip.problem:
            by_problem.setdefault(clip.problem, []).append(clip.clip_id)
    for problem, ids in by_problem.items():
        what = "no video or audio" if problem == "missing_file" else "audio only, no video"
        status.missing.append(f"{len(ids)} test clips with {what} in {set_dir / CLIPS_DIR} "
                              f"(first: {', '.join(ids[:3])})")
    return status


def check_sets(unibench_dir: str | Path, datasets: list[str] | None = None) -> list[SetStatus]:
    """Status of every MER-UniBench dataset folder under `unibench_dir` (default: all nine)."""
    root = Path(unibench_dir)
    if not root.is_dir():
        raise DatasetMissing(f"{root}: test-set folder not found; create it with one folder per dataset "
                           f"({', '.join(DATASETS)}), see docs/bench.md")
    names = datasets or list(DATASETS)
    for name in names:
        if name not in DATASETS:
            raise DatasetError(f"unknown dataset {name!r}; use one of {', '.join(DATASETS)}")
    return [check_set(root, name) for name in names]


def unibench_revision(unibench_dir: str | Path) -> str:
    """The test sets' version: the DVC md5 when the folder is DVC-tracked, else a content hash."""
    return content_revision(Path(unibench_dir).resolve())
