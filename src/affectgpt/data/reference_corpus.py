"""A training corpus with real text: subtitles and labels from the TRAIN splits of the
reference data, synthetic media, so a model trained on it (`make run`) sees real utterances
and its MER-UniBench rows measure something.

    make_reference_corpus(out_dir, n_clips=300)     # make run's size (LOCAL_CORPUS_CLIPS)

Sources: MER2023 (train split; 6 emotions and valence; Mandarin speech of the Chinese line,
English subtitle), MELD (train split; 7 emotions) and IEMOCAP (Sessions 1-4; 4 emotions). The
OV label of a clip is its discrete emotion word (no open-vocabulary annotation exists for these
clips); it stays in labels.csv. The MER-Caption build does not train on it: as in MER-Caption,
a record's labels are the ones extracted from its description, which on these clips come
mostly from the face and prosody clues of the synthetic media (docs/data.md). No clip of any
MER-UniBench test split is taken, nor any of the OV-MERD check set (whose MER2023 samples sit
in MER2023's train split). Media as in `bench make-fixture`: espeak-ng
speaking the line at one neutral prosody over a real LFW face, so the audio carries no label.
Written like the demo corpus: `raw/` (mp4 + wav, subtitles.csv, labels.csv) and the clip manifest.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from affectgpt.bench.datasets import DATASETS, MERBENCH
from affectgpt.data.demo_corpus import (
    LFW_FACE_COUNT,
    _detectable_face_order,
    _write_csv,
    check_tools,
    render_clip_media,
)
from affectgpt.data.schema import write_clip_manifest
from affectgpt.manifest import StepManifest
from affectgpt.paths import reference_data_dir

SOURCE = "reference-text-synthetic-media"
TRAIN_SOURCES: dict[str, str] = {"mer2023": "train", "meld": "train", "iemocapfour": "sessions 1-4"}
# The split of each group of len(TRAIN_SOURCES) consecutive clips (one per source): 8 train,
# 1 val, 1 test in 10, ordered so the first 12 clips already hold all three splits. The caption
# filters keep about a quarter of the clips, so most go to training; val picks the checkpoint,
# test is the corpus's own `local` report row (not in the MER-UniBench mean).
SPLIT_CYCLE: tuple[str, ...] = ("train", "val", "train", "test", "train", "train", "train", "train", "train", "train")
SPLITS_NAME = "8 train : 1 val : 1 test"
# The corpus `affectgpt pipeline run retrain --local` (`make run`) trains on: see docs/data.md
# for what it costs and what the caption filters keep of it.
LOCAL_CORPUS_CLIPS = 300
README_TEXT = """# affectgpt training corpus: real text, SYNTHETIC media

Made by `affectgpt pipeline run retrain --local` (`make run`) from the research reference data.

* Subtitles and labels: **real**, from the TRAIN splits of MER2023 (train), MELD (train) and
  IEMOCAP (Sessions 1-4). No clip of any MER-UniBench test split and none of the OV-MERD
  check set is used. The OV label of a clip is its discrete emotion word.
* Media: **synthetic**: espeak-ng speaking the line (Mandarin for MER2023, English otherwise)
  at one neutral prosody, over a real LFW face that does not act the emotion.

Research-licensed text: keep this folder inside your workspace; do not publish it.
"""


def benchmark_test_clip_ids(labels_root: Path) -> set[str]:
    """Every clip id of every MER-UniBench test split in the reference data (and the OV-MERD
    check set): the ids a training corpus must never contain."""
    from affectgpt.bench.datasets import DatasetError, load_dataset

    names: set[str] = set()
    for name in DATASETS:
        try:
            names |= {sample.clip_id for sample in load_dataset(name, labels_root=labels_root).samples}
        except DatasetError:
            continue
    return names


def train_rows(labels_root: Path) -> dict[str, list[dict]]:
    """Per source: train-split clips with a transcript, as {clip_id, emotion, valence, chinese, english}."""
    import pandas as pd

    excluded = benchmark_test_clip_ids(labels_root)
    rows: dict[str, list[dict]] = {}
    for name in TRAIN_SOURCES:
        spec = DATASETS[name]
        labels = pd.read_csv(labels_root / spec.label_file, dtype={"name": str, "split": str})
        if name == "iemocapfour":
            labels = labels[labels["name"].str[4] != "5"]  # Sessions 1-4 train, Session 5 is the test set
        else:
            labels = labels[labels["split"] == "train"]
        transcripts = pd.read_csv(labels_root / spec.transcript_file, dtype=str).fillna("")
        table = labels.merge(transcripts, on="name")
        table = table[(table["english"].str.strip() != "") & ~table["name"].isin(excluded)]
        out = []
        for record in table.to_dict("records"):
            emo = str(record["emo"]).strip()
            if spec.emotion_names is not None:
                emo = spec.emotion_names[int(float(emo))]
            value = float(record["val"])
            out.append({"clip_id": record["name"], "emotion": emo,
                        "valence": value if -5.0 <= value <= 5.0 and name == "mer2023" else None,
                        "chinese": record.get("chinese", ""), "english": record["english"].strip(), "source": name})
        rows[name] = sorted(out, key=lambda r: r["clip_id"])
    return rows


def plan_reference_corpus(n_clips: int = LOCAL_CORPUS_CLIPS, seed: int = 0,
                          labels_root: str | Path | None = None) -> list[dict]:
    """The rows `make_reference_corpus` would take, each with its split, without making media
    (what a check of the corpus against the test sets needs)."""
    root = Path(labels_root) if labels_root else reference_data_dir(required=True)
    return _choose(train_rows(root), n_clips, np.random.default_rng(seed))


def _choose(by_source: dict[str, list[dict]], n_clips: int, rng: np.random.Generator) -> list[dict]:
    """Up to `n_clips` rows, alternating between the sources and, within one, between emotions
    (seeded), each given its split from SPLIT_CYCLE."""
    queues: dict[str, dict[str, list[dict]]] = {}
    for source, rows in by_source.items():
        groups: dict[str, list[dict]] = {}
        for row in rows:
            groups.setdefault(row["emotion"], []).append(row)
        queues[source] = {emo: [group[i] for i in rng.permutation(len(group))] for emo, group in sorted(groups.items())}
    chosen: list[dict] = []
    turn = 0
    while len(chosen) < n_clips and any(any(q.values()) for q in queues.values()):
        for source in TRAIN_SOURCES:
            emotions = [emo for emo, queue in queues[source].items() if queue]
            if emotions and len(chosen) < n_clips:
                row = queues[source][emotions[turn % len(emotions)]].pop()
                chosen.append({**row, "split": SPLIT_CYCLE[(len(chosen) // len(TRAIN_SOURCES)) % len(SPLIT_CYCLE)]})
        turn += 1
    return chosen


def make_reference_corpus(out_dir: str | Path, n_clips: int = LOCAL_CORPUS_CLIPS, seed: int = 0, workers: int = 2,
                          labels_root: str | Path | None = None) -> Path:
    """Write `raw/` and `clip_manifest.parquet` under `out_dir`; return the manifest path.
    Clips alternate between the sources and, within one, between emotions; splits follow
    SPLIT_CYCLE, so the corpus has a held-out split (the `local` report row)."""
    if n_clips < 1:
        raise ValueError(f"n_clips must be >= 1, got {n_clips}")
    check_tools()
    started = time.perf_counter()
    root = Path(labels_root) if labels_root else reference_data_dir(required=True)
    if not (root / MERBENCH).is_dir():
        raise FileNotFoundError(f"{root / MERBENCH}: the reference data's MERBench labels are missing")
    rng = np.random.default_rng(seed)
    chosen = _choose(train_rows(root), n_clips, rng)
    out = Path(out_dir).resolve()
    raw_dir = out / "raw"
    raw_dir.mkdir(parents=True, exist_ok=True)
    faces = _detectable_face_order(rng.permutation(LFW_FACE_COUNT), needed=min(len(chosen), 40))

    def render(item: tuple[int, dict]) -> dict:
        index, row = item
        chinese = row["source"] == "mer2023" and bool(row["chinese"])
        mp4, wav, duration_s = render_clip_media(row["clip_id"], row["chinese"] if chinese else row["english"],
                                                 raw_dir, face_index=faces[index % len(faces)],
                                                 voice="cmn" if chinese else "en-us", seed=seed)
        return {"clip_id": row["clip_id"], "video_path": str(mp4), "audio_path": str(wav),
                "subtitle": row["english"], "language": "zh" if chinese else "en", "duration_s": round(duration_s, 3),
                "source": f"{SOURCE}:{row['source']}", "split": row["split"],
                "emotion": row["emotion"], "valence": row["valence"], "ov_labels": [row["emotion"]]}

    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        clips = list(pool.map(render, enumerate(chosen)))
    _write_csv(raw_dir / "subtitles.csv", ["name", "english"], [[c["clip_id"], c["subtitle"]] for c in clips])
    _write_csv(raw_dir / "labels.csv", ["name", "emotion", "valence", "ov_labels", "split"],
               [[c["clip_id"], c["emotion"], "" if c["valence"] is None else c["valence"], ",".join(c["ov_labels"]),
                 c["split"]] for c in clips])
    (out / "README.md").write_text(README_TEXT)
    manifest_path = write_clip_manifest(clips, out / "clip_manifest.parquet")
    StepManifest(
        step="reference_corpus",
        inputs={"labels_root": str(root), "sources": ", ".join(f"{k} ({v})" for k, v in TRAIN_SOURCES.items())},
        parameters={"n_clips": n_clips, "seed": seed, "splits": SPLITS_NAME},
        kept=len(clips),
        outputs={"clip_manifest": str(manifest_path), "raw": str(raw_dir)},
        timings_s={"total": round(time.perf_counter() - started, 3)},
        extra={"synthetic": "media synthesised (espeak-ng, LFW faces); subtitles and labels real (train splits)"},
    ).write(out)
    return manifest_path
