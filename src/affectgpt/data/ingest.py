"""Ingest: a folder of raw clips (or a clip manifest) -> a validated clip manifest.

Bad records are quarantined with a short reason and a detail that names the file and line,
never silently dropped: corrupt or missing video, missing audio, empty subtitle, duplicate ids,
paths outside the data root, undecodable subtitle text.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import soundfile as sf

from affectgpt.data.config import IngestConfig
from affectgpt.data.schema import CLIP_LABEL_COLUMNS, CLIP_MANIFEST_COLUMNS, SPLITS, read_clip_manifest
from affectgpt.data.splits import assign_split
from affectgpt.errors import BadInput, ExitCode, NotFound
from affectgpt.jsonline import nan_to_none
from affectgpt.manifest import SkippedRecord
from affectgpt.media import MediaError, probe_video


class IngestError(BadInput, ValueError):
    """The input as a whole cannot be read (no subtitle file, unreadable manifest)."""


class IngestInputMissing(IngestError, NotFound):
    """The folder or manifest named does not exist (exit 4, as every missing input)."""

    exit_code = ExitCode.NOT_FOUND


@dataclass
class IngestResult:
    clips: list[dict]
    skipped: list[SkippedRecord] = field(default_factory=list)
    data_root: Path | None = None
    notes: dict[str, int] = field(default_factory=dict)
    # Each clip's and each refusal's place in the input (`affectgpt.data.shards` puts the parts
    # of a sharded build back in the order of an unsharded one).
    clip_order: list[int] = field(default_factory=list)
    skipped_order: list[int] = field(default_factory=list)


def ingest(source: str | Path, config: IngestConfig | None = None, data_root: str | Path | None = None, *,
           part: Callable[[str], bool] | None = None) -> IngestResult:
    """Validate a raw folder (`*.mp4` + optional same-name `.wav` + `subtitles.csv`) or a clip
    manifest (`.parquet`/`.csv`, relative paths resolve against its folder). `data_root` (default:
    the folder itself / the manifest's folder) bounds where media may live.

    `part` (a record id -> bool) keeps one shard of the input: only its clips are validated
    (the per-clip work, a probe of each video) and only its refusals kept. A duplicate id falls
    in the same shard as the id it repeats, so duplicates are found within a shard."""
    config = config or IngestConfig()
    source = Path(source)
    if source.is_dir():
        root = Path(data_root or source).resolve()
        candidates, skipped = _candidates_from_folder(source.resolve(), config)
    elif source.is_file():
        root = Path(data_root or source.parent).resolve()
        candidates, skipped = _candidates_from_manifest(source.resolve())
    else:
        raise IngestInputMissing(f"{source}: no such folder or clip manifest; give a folder of clips or a .parquet/.csv manifest")
    def mine(record_id: str) -> bool:
        return part is None or part(record_id)

    result = IngestResult(clips=[], data_root=root)
    for position, record in enumerate(skipped):
        if mine(record.record_id):
            result.skipped.append(record)
            result.skipped_order.append(position)
    seen: dict[str, str] = {}
    for position, candidate in enumerate(candidates, start=len(skipped)):
        clip_id, where = candidate["clip_id"], candidate.pop("_where")
        if not mine(clip_id):
            continue
        if clip_id in seen:
            result.skipped.append(SkippedRecord(
                record_id=clip_id, reason="duplicate_id",
                detail=f"{where}: clip id already used at {seen[clip_id]}; rename one of them"))
            result.skipped_order.append(position)
            continue
        seen[clip_id] = where
        problem = _validate(candidate, root, config, result.notes)
        if problem is not None:
            result.skipped.append(SkippedRecord(record_id=clip_id, reason=problem[0], detail=f"{where}: {problem[1]}"))
            result.skipped_order.append(position)
            continue
        result.clips.append(candidate)
        result.clip_order.append(position)
    return result


def read_text_csv(path: Path) -> tuple[list[dict[str, str]], list[tuple[int, str]]]:
    """Rows of a UTF-8 CSV, plus (line, problem) for rows holding bytes that are not UTF-8:
    those rows are reported, the rest are used."""
    raw_text = path.read_bytes().decode("utf-8-sig", errors="surrogateescape")
    reader = csv.DictReader(io.StringIO(raw_text, newline=""))
    rows, bad_lines = [], []
    for row in reader:
        line = reader.line_num
        values = [value for value in row.values() if isinstance(value, str)]
        if any(_has_undecodable(value) for value in values):
            bad_lines.append((line, "text is not UTF-8; re-save the file as UTF-8"))
            continue
        row["_line"] = str(line)
        rows.append(row)
    return rows, bad_lines


def _has_undecodable(text: str) -> bool:
    return any("\udc80" <= char <= "\udcff" for char in text)


def _candidates_from_folder(folder: Path, config: IngestConfig) -> tuple[list[dict], list[SkippedRecord]]:
    subtitles_path = folder / config.subtitles_file
    if not subtitles_path.is_file():
        raise IngestError(f"{subtitles_path}: subtitle file missing; write a CSV with columns name,english[,chinese]")
    subtitle_rows, bad_lines = read_text_csv(subtitles_path)
    if subtitle_rows and not {"name", "english"} <= set(subtitle_rows[0]):
        raise IngestError(f"{subtitles_path}: needs columns 'name' and 'english' (found {sorted(subtitle_rows[0])[:-1]})")
    skipped = [
        SkippedRecord(record_id=f"{subtitles_path.name}:{line}", reason="bad_encoding",
                      detail=f"{subtitles_path} line {line}: {problem}")
        for line, problem in bad_lines
    ]
    labels, label_problems = _read_labels(folder / config.labels_file)
    skipped += label_problems
    subtitles: dict[str, dict[str, str]] = {}
    for row in subtitle_rows:  # the first row of a name wins; a later one is quarantined, not merged
        name = row["name"].strip()
        if name in subtitles:
            skipped.append(SkippedRecord(
                record_id=name, reason="duplicate_id",
                detail=f"{subtitles_path} line {row['_line']}: a subtitle for {name} is already on line "
                       f"{subtitles[name]['_line']} (kept); remove one of the two rows"))
            continue
        subtitles[name] = row
    videos = sorted(p for p in folder.iterdir() if p.suffix.lower() in config.video_extensions)
    candidates = []
    for video in videos:
        clip_id = video.stem
        row = subtitles.get(clip_id)
        wav = video.with_suffix(".wav")
        candidates.append({
            "clip_id": clip_id,
            "video_path": str(video),
            "audio_path": str(wav) if wav.is_file() else None,
            "subtitle": (row or {}).get("english"),
            "language": "en",
            "duration_s": None,
            "source": folder.name,
            "split": labels.get(clip_id, {}).get("split"),
            **{k: v for k, v in labels.get(clip_id, {}).items() if k != "split"},
            "_where": f"{video}" + (f" / {subtitles_path.name} line {row['_line']}" if row else ""),
        })
    video_ids = {v.stem for v in videos}
    for name, row in subtitles.items():
        if name not in video_ids:
            skipped.append(SkippedRecord(
                record_id=name, reason="missing_file",
                detail=f"{subtitles_path} line {row['_line']}: no video named {name}.* in {folder}"))
    return candidates, skipped


def _read_labels(path: Path) -> tuple[dict[str, dict], list[SkippedRecord]]:
    """Labels by clip name, and the label rows quarantined: a repeated name (the first row is
    kept), a valence that is not a finite number, bytes that are not UTF-8."""
    if not path.is_file():
        return {}, []
    rows, bad_lines = read_text_csv(path)
    problems = [SkippedRecord(record_id=f"{path.name}:{line}", reason="bad_encoding", detail=f"{path} line {line}: {p}")
                for line, p in bad_lines]
    labels: dict[str, dict] = {}
    first_line: dict[str, str] = {}
    for row in rows:
        name = (row.get("name") or "").strip()
        where = f"{path} line {row['_line']}"
        if name in labels:
            problems.append(SkippedRecord(record_id=name, reason="duplicate_id",
                                          detail=f"{where}: labels for {name} already on line {first_line[name]} "
                                                 "(kept); remove one of the two rows"))
            continue
        entry: dict = {}
        if row.get("emotion"):
            entry["emotion"] = row["emotion"].strip()
        if row.get("valence") not in (None, ""):
            try:
                valence = float(row["valence"])
            except ValueError:
                valence = None
            if valence is None or not math.isfinite(valence):
                problems.append(SkippedRecord(record_id=name, reason="bad_label",
                                              detail=f"{where}: valence {row['valence']!r} is not a finite number; "
                                                     "the clip is built without labels until it is fixed"))
                labels[name], first_line[name] = {}, row["_line"]
                continue
            entry["valence"] = valence
        if row.get("ov_labels"):
            entry["ov_labels"] = [w.strip() for w in row["ov_labels"].split(",") if w.strip()]
        if row.get("split") in SPLITS:
            entry["split"] = row["split"]
        labels[name], first_line[name] = entry, row["_line"]
    return labels, problems


def _candidates_from_manifest(path: Path) -> tuple[list[dict], list[SkippedRecord]]:
    try:
        frame = read_clip_manifest(path) if path.suffix == ".parquet" else pd.read_csv(path, encoding="utf-8")
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        raise IngestError(f"{path}: cannot read clip manifest ({exc}); give a Parquet or UTF-8 CSV file") from None
    missing = [c for c in ("clip_id", "video_path") if c not in frame.columns]
    if missing:
        raise IngestError(f"{path}: clip manifest lacks column(s) {missing}; see DESIGN.md 'Clip manifest'")
    candidates: list[dict] = []
    skipped: list[SkippedRecord] = []
    for position, row in enumerate(frame.to_dict("records")):
        record = {column: nan_to_none(row.get(column)) for column in CLIP_MANIFEST_COLUMNS}
        for column in ("emotion", "valence", "ov_labels"):
            if column in row:
                value = row[column]
                record[column] = list(value) if column == "ov_labels" and value is not None else nan_to_none(value)
        record["clip_id"] = str(record["clip_id"])
        valence = record.get("valence")
        if isinstance(valence, float) and not math.isfinite(valence):
            skipped.append(SkippedRecord(record_id=record["clip_id"], reason="bad_label",
                                         detail=f"{path} row {position + 1}: valence {valence} is not finite; "
                                                "the clip is built without labels until it is fixed"))
            for column in CLIP_LABEL_COLUMNS:
                record.pop(column, None)
        for column in ("video_path", "audio_path"):
            if record[column]:
                record[column] = str((path.parent / record[column]) if not Path(record[column]).is_absolute() else record[column])
        record["_where"] = f"{path} row {position + 1}"
        candidates.append(record)
    return candidates, skipped


def _validate(clip: dict, root: Path, config: IngestConfig, notes: dict[str, int]) -> tuple[str, str] | None:
    """(reason, detail) when the clip cannot be used; fills duration_s, language, split."""
    for column in ("video_path", "audio_path"):
        value = clip.get(column)
        if value and not _inside(Path(value), root):
            return "path_outside_root", f"{column} {value} is outside the data root {root}; move the file under it"
    subtitle = (clip.get("subtitle") or "").strip()
    if not subtitle:
        return "empty_subtitle", "no English subtitle; add it to the subtitle CSV"
    clip["subtitle"] = subtitle
    try:
        info = probe_video(clip["video_path"])
    except MediaError as exc:
        return exc.reason, str(exc)
    if clip.get("audio_path"):
        problem = _check_wav(Path(clip["audio_path"]), config, notes)
        if problem:
            return problem
    elif not info.has_audio:
        return "no_audio", f"{clip['video_path']}: no audio stream and no .wav beside it; add {Path(clip['video_path']).stem}.wav"
    clip["duration_s"] = float(clip.get("duration_s") or info.duration_s)
    clip["language"] = clip.get("language") or "en"
    if clip.get("split") not in SPLITS:
        clip["split"] = assign_split(clip["clip_id"], config.split_ratios)
    return None


def _check_wav(path: Path, config: IngestConfig, notes: dict[str, int]) -> tuple[str, str] | None:
    if not path.is_file():
        return "missing_file", f"{path}: audio file missing; fix audio_path or remove it to use the video's audio"
    try:
        info = sf.info(str(path))
    except (RuntimeError, sf.LibsndfileError) as exc:
        return "bad_audio", f"{path}: unreadable audio ({exc}); re-export as 16 kHz mono wav"
    if info.frames == 0:
        return "empty_audio", f"{path}: audio holds no samples"
    if info.samplerate != config.wav_sample_rate_hz:
        if config.other_sample_rate == "quarantine":
            return "bad_sample_rate", (f"{path}: {info.samplerate} Hz, expected {config.wav_sample_rate_hz} Hz; "
                                       f"re-export with `ffmpeg -i IN -ac 1 -ar {config.wav_sample_rate_hz} OUT.wav`")
        notes["resampled_audio"] = notes.get("resampled_audio", 0) + 1
    return None


def _inside(path: Path, root: Path) -> bool:
    try:
        path.resolve().relative_to(root)
        return True
    except ValueError:
        return False
