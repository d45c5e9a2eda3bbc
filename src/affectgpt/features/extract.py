"""Batch feature extraction: clip manifest -> packed encoder outputs + a clip feature table.

Each clip is decoded (8 frames, 8 face crops, 8 audio windows), passed through the frozen
encoders and written into a pack of its split (`affectgpt.features.packs`: a few safetensors
files holding many clips, and `index.parquet`); pooled vectors and clip facts go to
`clip_features.parquet` (keyed by clip_id with an event_timestamp, ready for a Feast view).
Each clip's features carry its media content hash and encoder config, so a re-run copies
unchanged clips from the previous packs and only computes new or changed ones. Bad clips are
quarantined in manifest.json with the media error's reason.

Where the build's clip manifest carries what it measured in a clip's media (`media_facts`: the
face boxes and the VAD's speech, for these very bytes: `affectgpt.data.media_facts`), the crops
are cut from those boxes and the speech ratio taken from that speech instead of running the
face detector and the VAD again; the features are the same, the manifest counts such clips
(`from_build`).

`shard`/`shards` extract the clips of one shard (`affectgpt.data.shard_key.shard_of`) and
`merge_feature_shards` joins the shards' folders into one, or into one per group of splits.

    from affectgpt.features.extract import extract_features
    extract_features(Path("data/clips.parquet"), Path("features/"), EncoderConfig(), workers=2)
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from affectgpt.data.media_facts import MEDIA_FACTS_COLUMN, MediaFacts, read_media_facts
from affectgpt.data.media_root import dataset_media_root
from affectgpt.data.schema import read_clip_manifest
from affectgpt.data.shard_key import shard_of
from affectgpt.features.cache import FeatureCacheKey, encoder_fingerprint, is_safe_clip_id
from affectgpt.features.outputs import FEATURE_OUTPUTS, FEATURE_TABLE, FROM_BUILD_FACTS, STEP_NAME
from affectgpt.features.packs import INDEX_FILE, PACK_DIR, FeatureReader, PackWriter, read_index, write_index
from affectgpt.manifest import MANIFEST_NAME, SkippedRecord, StepManifest, hash_file
from affectgpt.media import ClipMedia, MediaError, load_clip
from affectgpt.media.clip import FACE_SIZE
from affectgpt.model.encoders import AudioEncoder, EncoderConfig, VisionEncoder, build_encoders, encode_clip
from affectgpt.progress import step_progress
from affectgpt.publish import fault_point, staged_output

logger = logging.getLogger(__name__)

REQUIRED_COLUMNS = ("clip_id", "video_path")
SPEECH_THRESHOLD = 0.5  # silero-vad's default: the speech_ratio column's definition
# Decoded clips waiting for the encoders, per decoding worker: bounds memory on long manifests.
PREFETCH_PER_WORKER = 2


@dataclass
class _PendingClip:
    clip_id: str
    video_path: Path
    audio_path: Path | None
    key: FeatureCacheKey
    passthrough: dict[str, Any]
    manifest_row: int
    known: MediaFacts | None = None  # what the build measured in these media (`affectgpt.data.media_facts`)


def _read_clip_manifest(clip_manifest: Path) -> pd.DataFrame:
    if not clip_manifest.is_file():
        raise FileNotFoundError(f"{clip_manifest}: clip manifest not found; build one with `affectgpt build dataset` first")
    try:
        table = read_clip_manifest(clip_manifest)
    except Exception as exc:  # noqa: BLE001 - pyarrow raises several types for a non-parquet file
        raise ValueError(f"{clip_manifest}: not a readable Parquet clip manifest ({exc})") from None
    if table.empty:
        raise ValueError(f"{clip_manifest}: the clip manifest has no rows; nothing to extract")
    missing = [column for column in REQUIRED_COLUMNS if column not in table.columns]
    if missing:
        raise ValueError(
            f"{clip_manifest}: missing column(s) {', '.join(missing)}; a clip manifest has clip_id, video_path, "
            f"audio_path, subtitle, language, duration_s, source, split"
        )
    return table


def _resolve(base_dir: Path, value: Any) -> Path | None:
    """A manifest path cell as a Path (relative paths are relative to the media root)."""
    if value is None or (isinstance(value, float) and np.isnan(value)) or str(value).strip() == "":
        return None
    path = Path(str(value)).expanduser()
    return path if path.is_absolute() else base_dir / path


def _speech_ratio_fn():
    """Share of the clip's audio that Silero VAD calls speech (bundled ONNX model, no download)."""
    from silero_vad import get_speech_timestamps, load_silero_vad

    vad_model = load_silero_vad(onnx=True)

    def speech_ratio(samples_16k: np.ndarray) -> float:
        if samples_16k.size == 0:
            return 0.0
        segments = get_speech_timestamps(torch.from_numpy(samples_16k), vad_model, sampling_rate=16000,
                                         threshold=SPEECH_THRESHOLD)
        return float(sum(segment["end"] - segment["start"] for segment in segments) / samples_16k.size)

    return speech_ratio


def _decode(pending: _PendingClip, n_frames: int, n_windows: int, face_size: int) -> tuple[ClipMedia, float]:
    started = time.perf_counter()
    clip = load_clip(pending.video_path, pending.audio_path, n_frames=n_frames, n_windows=n_windows,
                     face_size=face_size, known_faces=pending.known.faces if pending.known else None)
    return clip, time.perf_counter() - started


def _decode_ahead(pool: ThreadPoolExecutor | None, todo: list[_PendingClip], depth: int, **decode_args: Any
                  ) -> Iterator[tuple[_PendingClip, tuple]]:
    """Yield (clip, decode result) in manifest order while up to `depth` clips decode in threads
    (PyAV and OpenCV release the GIL, so decoding overlaps with encoding)."""
    if pool is None:
        for pending in todo:
            try:
                yield pending, ("ok", _decode(pending, **decode_args))
            except Exception as exc:  # noqa: BLE001 - the caller quarantines the clip
                yield pending, ("error", exc)
        return
    queue: list[tuple[_PendingClip, Future]] = []
    for pending in todo:
        queue.append((pending, pool.submit(_decode, pending, **decode_args)))
        if len(queue) >= depth:
            yield _settle(*queue.pop(0))
    while queue:
        yield _settle(*queue.pop(0))


def _settle(pending: _PendingClip, future: Future) -> tuple[_PendingClip, tuple]:
    try:
        return pending, ("ok", future.result())
    except Exception as exc:  # noqa: BLE001 - the caller quarantines the clip
        return pending, ("error", exc)


def _table_row(clip_id: str, metadata: dict[str, Any], tensors: dict[str, torch.Tensor],
               passthrough: dict[str, Any], pack: str) -> dict[str, Any]:
    row: dict[str, Any] = {
        "clip_id": clip_id,
        "event_timestamp": pd.Timestamp(metadata["extracted_at"]),
        "duration_s": float(metadata["duration_s"]),
        "fps": float(metadata["fps"]),
        "n_video_frames": int(metadata["n_video_frames"]),
        "audio_duration_s": float(metadata["audio_duration_s"]),
        "face_ratio": float(metadata["face_ratio"]),
        "speech_ratio": float(metadata["speech_ratio"]) if metadata.get("speech_ratio") is not None else np.nan,
        "frames_mean": tensors["frames"].mean(dim=0).tolist(),
        "faces_mean": tensors["faces"].mean(dim=0).tolist(),
        "audio_mean": tensors["audio"].mean(dim=0).tolist(),
        "cache_key": metadata["cache_key"],
        "media_hash": metadata["media_hash"],
        "encoder_hash": metadata["encoder_hash"],
        "pack": pack,
    }
    row.update(passthrough)
    return row


def extract_features(clip_manifest: Path, out_dir: Path, encoder_cfg: EncoderConfig, *, workers: int = 1,
                     n_frames: int = 8, n_windows: int = 8, face_size: int = FACE_SIZE,
                     speech_ratio: bool = True, progress: bool = True,
                     media_root: str | Path | None = None, shard: int = 0, shards: int = 1) -> StepManifest:
    """Extract (or reuse) features for every clip in `clip_manifest`; returns the written manifest.

    `workers` decoding threads feed one encoding loop. Clips whose media fail to decode are
    quarantined with the MediaError reason (missing_file, corrupt_video, no_audio, ...).
    `progress` shows the clips to compute, with the quarantined and cached counts. Relative
    media paths resolve against `media_root`, else the root the dataset recorded
    (`affectgpt.data.media_root`). `shard` of `shards`: only the clips of that shard."""
    started = time.perf_counter()
    clip_manifest, out_dir = Path(clip_manifest), Path(out_dir)
    table = _read_clip_manifest(clip_manifest)
    settings = _Settings(encoder_cfg=encoder_cfg, encoder_hash=encoder_fingerprint(encoder_cfg), n_frames=n_frames,
                         n_windows=n_windows, face_size=face_size, speech_ratio=speech_ratio)
    # The packs, the index, the table and the manifest form one set: they are written into a
    # staging sibling and published together (affectgpt.publish); the published folder, left as
    # it is until then, is the cache the unchanged clips are copied from.
    with staged_output(out_dir, owned=FEATURE_OUTPUTS) as stage:
        writer = PackWriter(stage, shard=shard)
        scan = _scan_manifest(table, clip_manifest, out_dir, writer, settings,
                              dataset_media_root(clip_manifest.parent, media_root), shard, shards)
        timings = _compute_features(scan, writer, settings, workers, progress)
        index = writer.close()
        write_index(stage, index)
        _write_feature_table(scan, stage)
        step_manifest = StepManifest(
            step=STEP_NAME,
            inputs={"clip_manifest": hash_file(clip_manifest), "clip_manifest_path": str(clip_manifest)},
            parameters={
                "encoders": encoder_cfg.model_dump(mode="json"), "encoder_hash": settings.encoder_hash,
                "n_frames": n_frames, "n_windows": n_windows, "face_size": face_size,
                "speech_ratio": speech_ratio, "workers": workers, "shard": shard, "shards": shards,
            },
            kept=len(scan.rows),
            skipped=scan.skipped,
            outputs={"clip_features": FEATURE_TABLE, "index": INDEX_FILE, "packs": f"{PACK_DIR}/"},
            timings_s={"hash": round(scan.hashing_s, 4), **{name: round(value, 4) for name, value in timings.items()},
                       "total": round(time.perf_counter() - started, 4)},
            extra={
                "cache_hits": scan.cache_hits, "computed": len(scan.rows) - scan.cache_hits,
                "from_build": dict(scan.from_build),
                "packs": int(index["pack"].nunique()),
                "d_vision": len(scan.rows[0]["frames_mean"]) if scan.rows else None,
                "d_audio": len(scan.rows[0]["audio_mean"]) if scan.rows else None,
            },
        )
        step_manifest.write(stage)
    return step_manifest


@dataclass
class _Settings:
    """How every clip is decoded and encoded; `decode_settings` is the part of the cache key
    that is not the encoders."""

    encoder_cfg: EncoderConfig
    encoder_hash: str
    n_frames: int
    n_windows: int
    face_size: int
    speech_ratio: bool

    @property
    def decode_settings(self) -> str:
        return (f"frames={self.n_frames},windows={self.n_windows},face={self.face_size},"
                f"vad={int(self.speech_ratio)}")


@dataclass
class _Scan:
    """The manifest read once: table rows of cache hits, clips left to compute, and refusals."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    todo: list[_PendingClip] = field(default_factory=list)
    skipped: list[SkippedRecord] = field(default_factory=list)
    seen_in_order: list[str] = field(default_factory=list)
    cache_hits: int = 0
    hashing_s: float = 0.0
    # Computed clips whose face crops / speech ratio came from the build's media facts.
    from_build: dict[str, int] = field(default_factory=lambda: dict.fromkeys(FROM_BUILD_FACTS, 0))


def _scan_manifest(table: pd.DataFrame, clip_manifest: Path, previous_dir: Path, writer: PackWriter,
                   settings: _Settings, media_root: Path, shard: int, shards: int) -> _Scan:
    """Refuse bad or duplicate ids and missing files, hash each clip's media into its cache key,
    and copy the previous run's features (and table row) where the key matches."""
    hashing_started = time.perf_counter()
    scan, seen = _Scan(), set()
    previous = _previous_run(previous_dir)
    passthrough_columns = [c for c in ("split", "source", "language", "subtitle") if c in table.columns]
    for line, record in enumerate(table.to_dict(orient="records")):
        clip_id = str(record.get("clip_id") or "").strip()
        if shards > 1 and shard_of(clip_id or f"row-{line}", shards) != shard:
            continue
        where = f"{clip_manifest.name} row {line}"
        if not is_safe_clip_id(clip_id):
            scan.skipped.append(SkippedRecord(record_id=clip_id or f"row-{line}", reason="bad_clip_id",
                                              detail=f"{where}: clip_id {clip_id!r} is empty or not file-name safe"))
            continue
        if clip_id in seen:
            scan.skipped.append(SkippedRecord(record_id=clip_id, reason="duplicate_id",
                                              detail=f"{where}: clip_id appears earlier in the manifest"))
            continue
        seen.add(clip_id)
        scan.seen_in_order.append(clip_id)
        paths = _media_paths(clip_id, record, media_root, where)
        if isinstance(paths, SkippedRecord):
            scan.skipped.append(paths)
            continue
        video_path, audio_path = paths
        key = FeatureCacheKey.for_clip(video_path, audio_path, settings.encoder_hash, settings.decode_settings)
        passthrough = {column: record.get(column) for column in passthrough_columns}
        if previous is not None and previous[1].get(clip_id) == key.value:
            scan.cache_hits += 1
            tensors, metadata = previous[0].tensors(clip_id), previous[0].metadata(clip_id)
            pack = writer.add(clip_id, passthrough.get("split"), tensors, metadata, cache_key=key.value,
                              manifest_row=line)
            scan.rows.append(_table_row(clip_id, metadata, tensors, passthrough, pack))
        else:
            scan.todo.append(_PendingClip(clip_id, video_path, audio_path, key, passthrough, line,
                                          read_media_facts(record.get(MEDIA_FACTS_COLUMN), key.media_hash)))
    scan.hashing_s = time.perf_counter() - hashing_started
    return scan


def _media_paths(clip_id: str, record: dict[str, Any], base_dir: Path,
                 where: str) -> tuple[Path, Path | None] | SkippedRecord:
    """The clip's video and audio paths, or its quarantine record when one is empty or missing."""
    video_path = _resolve(base_dir, record.get("video_path"))
    audio_path = _resolve(base_dir, record.get("audio_path"))
    if video_path is None:
        return SkippedRecord(record_id=clip_id, reason="missing_file", detail=f"{where}: video_path is empty")
    missing = next((p for p in (video_path, audio_path) if p is not None and not p.is_file()), None)
    if missing is not None:
        return SkippedRecord(record_id=clip_id, reason="missing_file",
                             detail=f"{where}: {MediaError(missing, 'missing_file')}")
    return video_path, audio_path


class _Encoders:
    """The frozen encoders and the VAD, built on first use: a run of cache hits never loads weights."""

    def __init__(self, settings: _Settings) -> None:
        self.settings, self.build_s = settings, 0.0
        self.vision: VisionEncoder | None = None
        self.audio: AudioEncoder | None = None
        self.vad = None

    def ready(self) -> tuple[VisionEncoder, AudioEncoder]:
        if self.vision is None or self.audio is None:
            build_started = time.perf_counter()
            self.vision, self.audio = build_encoders(self.settings.encoder_cfg)
            self.vad = _speech_ratio_fn() if self.settings.speech_ratio else None
            self.build_s = time.perf_counter() - build_started
        return self.vision, self.audio


def _previous_run(features_dir: Path) -> tuple[FeatureReader, dict[str, str]] | None:
    """The published features of the previous run and their cache keys, or None (a first run,
    or a folder that is unreadable: then every clip is computed again)."""
    try:
        index = read_index(features_dir)
        return FeatureReader(features_dir), dict(zip(index["clip_id"], index["cache_key"], strict=True))
    except Exception as exc:  # noqa: BLE001 - a damaged cache is a cache miss, not an error
        logger.warning("%s: previous features unreadable (%s); computing every clip", features_dir, exc)
        return None


def _compute_features(scan: _Scan, writer: PackWriter, settings: _Settings, workers: int,
                      progress: bool) -> dict[str, float]:
    """Decode the clips to compute in `workers` threads, encode each, add it to its split's
    pack and the table; a clip that fails to decode is quarantined. The progress counts the clips computed, with
    all quarantined so far (the manifest's refusals too) and the cache hits. Returns the
    build/decode/encode seconds."""
    decode_s = encode_s = 0.0
    encoders = _Encoders(settings)
    todo = scan.todo
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="decode") if workers > 1 and todo else None
    try:
        with step_progress("extract features", len(todo), unit="clip", enabled=progress and bool(todo)) as bar:
            decoded = _decode_ahead(pool, todo, PREFETCH_PER_WORKER * max(workers, 1), n_frames=settings.n_frames,
                                    n_windows=settings.n_windows, face_size=settings.face_size)
            for pending, (status, payload) in decoded:
                if status == "error":
                    scan.skipped.append(_quarantine(pending.clip_id, payload))
                    bar.update(1, quarantined=len(scan.skipped), cached=scan.cache_hits)
                    continue
                clip, clip_decode_s = payload
                decode_s += clip_decode_s
                scan.from_build["faces"] += clip.faces_known
                vision, audio = encoders.ready()
                encode_started = time.perf_counter()
                tensors = encode_clip(clip, vision, audio)
                speech_ratio, speech_known = _speech_ratio(pending, clip, encoders.vad)
                scan.from_build["speech"] += speech_known
                metadata = _clip_metadata(pending, clip, settings.encoder_hash, speech_ratio)
                pack = writer.add(pending.clip_id, pending.passthrough.get("split"), tensors, metadata,
                                  cache_key=pending.key.value, manifest_row=pending.manifest_row)
                fault_point(f"features:encoded:{pending.clip_id}")
                encode_s += time.perf_counter() - encode_started
                scan.rows.append(_table_row(pending.clip_id, metadata, tensors, pending.passthrough, pack))
                bar.update(1, quarantined=len(scan.skipped), cached=scan.cache_hits)
    finally:
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
    return {"build_encoders": encoders.build_s, "decode": decode_s, "encode": encode_s}


def _speech_ratio(pending: _PendingClip, clip: ClipMedia, vad) -> tuple[float | None, bool]:
    """The clip's speech ratio (None without a VAD) and whether it is the build's measurement
    (`affectgpt.data.media_facts`) rather than one made here."""
    if vad is None:
        return None, False
    raw_audio = clip.audio_16k[: round(clip.audio_duration_s * clip.sample_rate_hz)]
    known = pending.known.speech if pending.known else None
    ratio = known.ratio(SPEECH_THRESHOLD, raw_audio.size) if known else None
    return (ratio, True) if ratio is not None else (vad(raw_audio), False)


def _clip_metadata(pending: _PendingClip, clip: ClipMedia, encoder_hash: str,
                   speech_ratio: float | None) -> dict[str, Any]:
    """What a pack records beside a clip's tensors: the cache key, clip facts and the speech ratio."""
    return {
        "clip_id": pending.clip_id,
        "cache_key": pending.key.value,
        "media_hash": pending.key.media_hash,
        "encoder_hash": encoder_hash,
        "extracted_at": datetime.now(UTC).isoformat(),
        "duration_s": clip.duration_s,
        "fps": clip.fps,
        "n_video_frames": clip.n_video_frames,
        "audio_duration_s": clip.audio_duration_s,
        "audio_source": clip.audio_source,
        "face_ratio": clip.face_ratio,
        "face_found": clip.face_found,
        "frame_indices": clip.frame_indices.tolist(),
        "window_starts_s": clip.window_starts_s.tolist(),
        "speech_ratio": speech_ratio,
    }


def _write_feature_table(scan: _Scan, out_dir: Path) -> None:
    """Cache hits and new clips as one table, in manifest order."""
    manifest_order = {clip_id: position for position, clip_id in enumerate(scan.seen_in_order)}
    scan.rows.sort(key=lambda row: manifest_order[row["clip_id"]])
    feature_table = pd.DataFrame(scan.rows)
    if feature_table.empty:
        feature_table = pd.DataFrame(columns=["clip_id", "event_timestamp"])
    feature_table.to_parquet(out_dir / FEATURE_TABLE, index=False)
    fault_point(f"features:wrote:{FEATURE_TABLE}")


def _quarantine(clip_id: str, error: BaseException) -> SkippedRecord:
    if isinstance(error, MediaError):
        return SkippedRecord(record_id=clip_id, reason=error.reason, detail=str(error))
    # Not a known media failure: keep the run going, but say loudly what happened.
    logger.warning("clip %s: unexpected %s while decoding: %s", clip_id, type(error).__name__, error)
    return SkippedRecord(record_id=clip_id, reason="decode_error", detail=f"{type(error).__name__}: {error}")
