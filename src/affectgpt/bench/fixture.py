"""A miniature MER-UniBench for laptops and CI: real labels and real subtitles, synthetic media.

    affectgpt bench make-fixture --out fixture/ --per-dataset 20

For each of the nine sets, N test clips are drawn (seeded, spread over the gold classes) from
the research reference data, among the clips the set's metric scores: a HIT set's `neutral`
clips and a sentiment set's zero-valence clips are never scored (docs/bench.md, Metrics), so
media made for them would only cost time, and N clips give N scored clips, the number
the reports' "too few clips to compare" threshold (20) counts. Their label rows and
transcripts are copied as they are, and
each clip gets synthetic media: espeak-ng speaking the real transcript in its language
(English for MELD, IEMOCAP and CMU-MOSI; the Mandarin `cmn` voice for the Chinese sets
MER2023, CH-SIMS, CH-SIMS v2 and OV-MERD+) over a real LFW face, at one neutral prosody for
every clip so the audio carries no label. The folder follows the test-set layout
(`affectgpt.bench.testsets`) and says it is synthetic in README.md and fixture.json, which
every bench report repeats. Where the reference data lacks something (MER2024 labels, CMU-MOSEI
transcripts, fewer than N scored test clips with a transcript) the fixture says so instead of
inventing it.

Cost, measured on a shared 2-core machine: 20 clips a set (160 clips) take about 55 s of CPU
and 37 MB; `affectgpt pipeline run retrain --local` makes the fixture once into its workspace
and reuses it while `fixture.json` records the clip count, seed and selection it asks for.
"""

from __future__ import annotations

import csv
import json
import logging
import math
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from affectgpt.bench.datasets import DATASETS, DatasetError, GoldSample, load_dataset
from affectgpt.bench.testsets import (
    CLIPS_DIR,
    FIXTURE_CLIPS_PER_SET,
    FIXTURE_FILE,
    LABELS_FILE,
    TRANSCRIPTS_FILE,
)
from affectgpt.paths import reference_data_dir

# How the clips are chosen; `fixture.json` records it, so a workspace's cached fixture made by
# another rule (every test clip, neutral and zero-valence ones included) is not taken for this one.
SELECTION = "scored-clips"

# The Chinese corpora: their audio is Mandarin, so the fixture speaks their Chinese transcript.
CHINESE_SETS = frozenset({"mer2023", "mer2024", "sims", "simsv2", "ovmerdplus"})
# OV-MERD+ clips are MER2023 samples: their transcripts live in MER2023's transcription file.
TRANSCRIPTS_FROM = {"ovmerdplus": "mer2023"}
logger = logging.getLogger(__name__)
SYNTHETIC_NOTE = "fixture: real labels and subtitles, SYNTHETIC media (espeak-ng speech, LFW face)"
README_TEXT = """# MER-UniBench fixture (SYNTHETIC media)

Made by `affectgpt bench make-fixture` from the research reference data
(`AFFECTGPT_REFERENCE_DATA`); deterministic for a given clip count and seed.

* Labels (`<dataset>/labels.csv`) and transcripts (`<dataset>/transcripts.csv`): **real**, the
  rows of the public MERBench / MER2024 files for the chosen test clips, unchanged.
* Media (`<dataset>/clips/<name>.mp4` + `.wav`): **synthetic**. espeak-ng speaks the real
  transcript in its language (Mandarin `cmn` voice for MER2023, CH-SIMS, CH-SIMS v2, OV-MERD+;
  English otherwise) at one neutral prosody, over a real photograph from scikit-image's LFW
  subset that does not act the emotion.
* Clips: {per_dataset} a set (seed {seed}), spread over the gold classes, among the test clips
  the set's metric scores (a HIT set's `neutral` clips and a sentiment set's zero-valence clips
  never count, so the fixture makes no media for them).

Scores on this folder exercise the evaluation path and compare a model with the subtitle-only
baseline on real text. They are not MER-UniBench results; put the licensed test sets in the
same layout (docs/bench.md) for those.

{details}
"""


@dataclass
class FixtureSet:
    dataset: str
    status: str  # ok | no_labels
    n_clips: int
    note: str = ""


@dataclass
class _PlannedSet:
    """One set's chosen test clips with their transcripts, before any media is made."""

    result: FixtureSet
    chosen: list[GoldSample]
    label_path: Path | None = None
    transcripts: dict[str, tuple[str, str]] | None = None


def plan_fixture(per_dataset: int = FIXTURE_CLIPS_PER_SET, *, seed: int = 0,
                 labels_root: str | Path | None = None) -> dict[str, list[str]]:
    """The clip ids `make_fixture` would take per set, without making media (what a check of
    the fixture against a training corpus needs)."""
    root = Path(labels_root) if labels_root else reference_data_dir(required=True)
    return {name: [s.clip_id for s in planned.chosen]
            for name, planned in _plan(per_dataset, np.random.default_rng(seed), root).items()}


def make_fixture(out_dir: str | Path, per_dataset: int = FIXTURE_CLIPS_PER_SET, *, seed: int = 0, workers: int = 2,
                 labels_root: str | Path | None = None) -> list[FixtureSet]:
    """Write the fixture under `out_dir` and return what each dataset got."""
    from affectgpt.data.demo_corpus import DemoCorpusError, check_tools

    if per_dataset < 1:
        raise ValueError(f"per_dataset must be >= 1, got {per_dataset}")
    check_tools()
    root = Path(labels_root) if labels_root else reference_data_dir(required=True)
    started = time.perf_counter()
    out = Path(out_dir).resolve()
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    results: list[FixtureSet] = []
    jobs: list[tuple[str, str, Path, int, str]] = []
    for name, planned in _plan(per_dataset, rng, root).items():
        results.append(planned.result)
        if planned.label_path is None:
            continue
        chosen, transcripts = planned.chosen, planned.transcripts or {}
        set_dir = out / name
        (set_dir / CLIPS_DIR).mkdir(parents=True, exist_ok=True)
        _copy_rows(planned.label_path, set_dir / LABELS_FILE, {s.clip_id for s in chosen})
        if transcripts:
            _write_rows(set_dir / TRANSCRIPTS_FILE, ["name", "chinese", "english"],
                        [[s.clip_id, *transcripts.get(s.clip_id, ("", ""))] for s in chosen])
        for index, sample in enumerate(chosen):
            chinese, english = transcripts.get(sample.clip_id, ("", ""))
            spoken = chinese if name in CHINESE_SETS and chinese else english
            voice = "cmn" if name in CHINESE_SETS and chinese else "en-us"
            jobs.append((sample.clip_id, spoken, set_dir / CLIPS_DIR, int(rng.integers(1 << 30)) + index, voice))
    faces = _face_pool(seed, needed=min(len(jobs), 40) or 1)

    def render(job: tuple[str, str, Path, int, str]) -> None:
        from affectgpt.data.demo_corpus import render_clip_media

        clip_id, text, clips_dir, draw, voice = job
        render_clip_media(clip_id, text, clips_dir, face_index=faces[draw % len(faces)], voice=voice, seed=seed)

    try:
        with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:  # the work is in espeak/ffmpeg subprocesses
            list(pool.map(render, jobs))
    except DemoCorpusError as exc:
        raise RuntimeError(f"could not render the fixture media: {exc}") from None
    info = {
        "synthetic": True,
        "note": SYNTHETIC_NOTE,
        "made_by": "affectgpt bench make-fixture",
        "per_dataset": per_dataset,
        "seed": seed,
        "selection": SELECTION,
        "datasets": {r.dataset: {"status": r.status, "n_clips": r.n_clips, "note": r.note} for r in results},
        "seconds": round(time.perf_counter() - started, 2),
    }
    (out / FIXTURE_FILE).write_text(json.dumps(info, indent=2, ensure_ascii=False))
    details = "\n".join(f"* {DATASETS[r.dataset].display_name}: {r.n_clips} clips" + (f". {r.note}" if r.note else "")
                        for r in results)
    (out / "README.md").write_text(README_TEXT.format(details=details, per_dataset=per_dataset, seed=seed))
    return results


def _plan(per_dataset: int, rng: np.random.Generator, root: Path) -> dict[str, _PlannedSet]:
    """Per set, in DATASETS order: the chosen clips (drawn from `rng`) and what the set lacks."""
    planned: dict[str, _PlannedSet] = {}
    for name, spec in DATASETS.items():
        try:
            dataset = load_dataset(name, labels_root=root)
        except DatasetError as exc:
            planned[name] = _PlannedSet(FixtureSet(
                name, "no_labels", 0, f"the reference data has no {spec.display_name} labels, so the fixture has "
                f"no {spec.display_name} clips: add the licensed set to score it"), [])
            logger.info("%s: %s", name, exc)
            continue
        transcripts = _transcripts(root, TRANSCRIPTS_FROM.get(name, name))
        scored = [s for s in dataset.samples if _scored(dataset.task, s.gt)]
        chosen = _choose(scored, per_dataset, rng, with_text=set(transcripts))
        notes = []
        if not transcripts:
            notes.append(f"the reference data has no {spec.display_name} transcripts: clips have no subtitle and "
                         "silent synthetic audio")
        elif len(chosen) < per_dataset:
            notes.append(f"only {len(chosen)} scored {spec.display_name} test clips have a transcript in the "
                         f"reference data, fewer than the {per_dataset} asked for")
        planned[name] = _PlannedSet(FixtureSet(name, "ok", len(chosen), "; ".join(notes)), chosen,
                                    dataset.label_path, transcripts)
    return planned


def _scored(task: str, gt) -> bool:
    """Whether the set's metric scores a clip with this gold label in both scorer modes."""
    return _scored_label(task, tuple(gt) if isinstance(gt, list) else gt)


@lru_cache(maxsize=4096)
def _scored_label(task: str, gt) -> bool:
    from affectgpt.bench.metrics import score_task

    if task == "sentiment":  # zero (and non-finite) valences are dropped (official: NaN counts as negative)
        return isinstance(gt, float) and math.isfinite(gt) and gt != 0
    sample = [{"name": "gold", "gt": list(gt) if isinstance(gt, tuple) else gt,
               "pred": list(gt) if isinstance(gt, tuple) else [gt]}]
    return all(score_task(task, sample, mode=mode, keep_samples=False).n_scored == 1
               for mode in ("official", "corrected"))


def _transcripts(root: Path, name: str) -> dict[str, tuple[str, str]]:
    """name -> (chinese, english) from the dataset's reference transcription file, or {}."""
    spec = DATASETS[name]
    path = root / spec.transcript_file if spec.transcript_file else None
    if path is None or not path.is_file():
        return {}
    with open(path, newline="", encoding="utf-8") as handle:
        return {row["name"]: ((row.get("chinese") or "").strip(), (row.get("english") or "").strip())
                for row in csv.DictReader(handle)}


def _choose(samples: list[GoldSample], n: int, rng: np.random.Generator, with_text: set[str]) -> list[GoldSample]:
    """Up to N samples spread over the gold classes (sign of the valence for sentiment sets),
    only those with a transcript when any has one; seeded."""
    pool = [s for s in samples if s.clip_id in with_text] or list(samples)
    groups: dict[str, list[GoldSample]] = {}
    for sample in pool:
        groups.setdefault(_class_of(sample.gt), []).append(sample)
    queues = {key: [group[i] for i in rng.permutation(len(group))] for key, group in sorted(groups.items())}
    chosen: list[GoldSample] = []
    while len(chosen) < min(n, len(pool)):
        for key in sorted(queues):
            if queues[key] and len(chosen) < n:
                chosen.append(queues[key].pop())
    return chosen


def _class_of(gt) -> str:
    if isinstance(gt, float):
        return "pos" if gt > 0 else "neg" if gt < 0 else "zero"
    if isinstance(gt, str) and not gt.startswith("["):
        return gt
    return "ov"


def _copy_rows(source: Path, target: Path, names: set[str]) -> None:
    """The chosen clips' rows of the public label file, byte-for-byte values and columns."""
    with open(source, newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        rows = [row for row in reader if row.get("name") in names]
        fields = list(reader.fieldnames or [])
    with open(target, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)


def _write_rows(path: Path, header: list[str], rows: list[list[str]]) -> None:
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)


def _face_pool(seed: int, needed: int) -> list[int]:
    """LFW faces the media face detector finds, in a seeded order (as the demo corpus uses)."""
    from affectgpt.data.demo_corpus import LFW_FACE_COUNT, _detectable_face_order

    return _detectable_face_order(np.random.default_rng(seed).permutation(LFW_FACE_COUNT), needed=needed)
