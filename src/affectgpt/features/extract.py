"""Batch feature extraction: clip manifest -> per-clip encoder shards + a clip feature table.

Each clip is decoded (8 frames, 8 face crops, 8 audio windows), passed through the frozen
encoders and written to `shards/{clip_id}.safetensors`; pooled vectors and clip facts go to
`clip_features.parquet` (keyed by clip_id with an event_timestamp, ready for a Feast view).
Shards are keyed by media content hash and encoder config, so a re-run only computes new or
changed clips. Bad clips are quarantined in manifest.json with the media error's reason.

    from affectgpt.features.extract import extract_features
    extract_features(Path("data/clips.parquet"), Path("features/"), EncoderConfig(), workers=2)
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from affectgpt.data.schema import read_clip_manifest
from affectgpt.features.cache import (
    SHARD_DIR,
    FeatureCacheKey,
    cached_metadata,
    decode_metadata,
    encoder_fingerprint,
    is_safe_clip_id,
    load_clip_features,
    shard_path,
    write_shard,
)
from affectgpt.manifest import MANIFEST_NAME, SkippedRecord, StepManifest, hash_file
from affectgpt.media import ClipMedia, MediaError, load_clip
from affectgpt.media.clip import FACE_SIZE
from affectgpt.model.encoders import AudioEncoder, EncoderConfig, VisionEncoder, build_encoders, encode_clip
from affectgpt.publish import fault_point, staged_output

logger = logging.getLogger(__name__)

STEP_NAME = "extract_features"
FEATURE_TABLE = "clip_features.parquet"
REQUIRED_COLUMNS = ("clip_id", "video_path")
# Decoded clips waiting for the encoders, per decoding worker: bounds memory on long manifests.
PREFETCH_PER_WORKER = 2


@dataclass
class _PendingClip:
    clip_id: str
    video_path: Path
    audio_path: Path | None
    key: FeatureCacheKey
    passthrough: dict[str, Any]


def _read_clip_manifest(clip_manifest: Path) -> pd.DataFrame:
    if not clip_manifest.is_file():
        raise FileNotFoundError(f"{clip_manifest}: clip manifest not found; build one with `affectgpt data` first")
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
    """A manifest path cell as a Path (relative paths are relative to the manifest's folder)."""
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
        segments = get_speech_timestamps(torch.from_numpy(samples_16k), vad_model, sampling_rate=16000)
        return float(sum(segment["end"] - segment["start"] for segment in segments) / samples_16k.size)

    return speech_ratio


def _decode(pending: _PendingClip, n_frames: int, n_windows: int, face_size: int) -> tuple[ClipMedia, float]:
    started = time.perf_counter()
    clip = load_clip(pending.video_path, pending.audio_path, n_frames=n_frames, n_windows=n_windows,
                     face_size=face_size)
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
               passthrough: dict[str, Any], features_dir: Path) -> dict[str, Any]:
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
        "shard": str(shard_path(features_dir, clip_id).relative_to(features_dir)),
    }
    row.update(passthrough)
    return row


def extract_features(clip_manifest: Path, out_dir: Path, encoder_cfg: EncoderConfig, *, workers: int = 1,
                     n_frames: int = 8, n_windows: int = 8, face_size: int = FACE_SIZE,
                     speech_ratio: bool = True, progress: bool = True) -> StepManifest:
    """Extract (or reuse) features for every clip in `clip_manifest`; returns the written manifest.

    `workers` decoding threads feed one encoding loop. Clips whose media fail to decode are
    quarantined with the MediaError reason (missing_file, corrupt_video, no_audio, ...)."""
    started = time.perf_counter()
    clip_manifest, out_dir = Path(clip_manifest), Path(out_dir)
    table = _read_clip_manifest(clip_manifest)
    base_dir = clip_manifest.parent
    encoder_hash = encoder_fingerprint(encoder_cfg)
    decode_settings = f"frames={n_frames},windows={n_windows},face={face_size},vad={int(speech_ratio)}"
    # The shards, the table and the manifest form one set: they are written into a staging
    # sibling (old shards hard-linked in as the cache) and published together (affectgpt.publish).
    target_dir = out_dir
    with staged_output(target_dir, owned=(FEATURE_TABLE, MANIFEST_NAME), seed=(SHARD_DIR,)) as out_dir:
        (out_dir / SHARD_DIR).mkdir(parents=True, exist_ok=True)

        skipped: list[SkippedRecord] = []
        rows: list[dict[str, Any]] = []
        todo: list[_PendingClip] = []
        seen: set[str] = set()
        seen_in_order: list[str] = []
        cache_hits = 0
        passthrough_columns = [c for c in ("split", "source", "language") if c in table.columns]

        hashing_started = time.perf_counter()
        for line, record in enumerate(table.to_dict(orient="records")):
            clip_id = str(record.get("clip_id") or "").strip()
            where = f"{clip_manifest.name} row {line}"
            if not is_safe_clip_id(clip_id):
                skipped.append(SkippedRecord(record_id=clip_id or f"row-{line}", reason="bad_clip_id",
                                             detail=f"{where}: clip_id {clip_id!r} is empty or not file-name safe"))
                continue
            if clip_id in seen:
                skipped.append(SkippedRecord(record_id=clip_id, reason="duplicate_id",
                                             detail=f"{where}: clip_id appears earlier in the manifest"))
                continue
            seen.add(clip_id)
            seen_in_order.append(clip_id)
            video_path = _resolve(base_dir, record.get("video_path"))
            audio_path = _resolve(base_dir, record.get("audio_path"))
            if video_path is None:
                skipped.append(SkippedRecord(record_id=clip_id, reason="missing_file",
                                             detail=f"{where}: video_path is empty"))
                continue
            missing = next((p for p in (video_path, audio_path) if p is not None and not p.is_file()), None)
            if missing is not None:
                skipped.append(SkippedRecord(record_id=clip_id, reason="missing_file",
                                             detail=f"{where}: {MediaError(missing, 'missing_file')}"))
                continue
            key = FeatureCacheKey.for_clip(video_path, audio_path, encoder_hash, decode_settings)
            passthrough = {column: record.get(column) for column in passthrough_columns}
            metadata = cached_metadata(shard_path(out_dir, clip_id), key)
            if metadata is not None:
                cache_hits += 1
                rows.append(_table_row(clip_id, decode_metadata(metadata), load_clip_features(out_dir, clip_id),
                                       passthrough, out_dir))
            else:
                todo.append(_PendingClip(clip_id, video_path, audio_path, key, passthrough))
        hashing_s = time.perf_counter() - hashing_started

        decode_s = encode_s = build_s = 0.0
        vision: VisionEncoder | None = None
        audio: AudioEncoder | None = None
        vad = None

        pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="decode") if workers > 1 and todo else None
        try:
            bar = tqdm(total=len(todo), desc="extract features", unit="clip", disable=not progress or not todo)
            decoded = _decode_ahead(pool, todo, PREFETCH_PER_WORKER * max(workers, 1),
                                    n_frames=n_frames, n_windows=n_windows, face_size=face_size)
            for pending, (status, payload) in decoded:
                bar.update(1)
                if status == "error":
                    skipped.append(_quarantine(pending.clip_id, payload))
                    continue
                clip, clip_decode_s = payload
                decode_s += clip_decode_s
                if vision is None or audio is None:  # built on first use: a run of cache hits never loads weights
                    build_started = time.perf_counter()
                    vision, audio = build_encoders(encoder_cfg)
                    vad = _speech_ratio_fn() if speech_ratio else None
                    build_s = time.perf_counter() - build_started
                encode_started = time.perf_counter()
                tensors = encode_clip(clip, vision, audio)
                raw_audio = clip.audio_16k[: round(clip.audio_duration_s * clip.sample_rate_hz)]
                metadata = {
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
                    "speech_ratio": vad(raw_audio) if vad is not None else None,
                }
                write_shard(shard_path(out_dir, pending.clip_id), tensors, metadata)
                fault_point(f"features:wrote:{pending.clip_id}")
                encode_s += time.perf_counter() - encode_started
                rows.append(_table_row(pending.clip_id, metadata, tensors, pending.passthrough, out_dir))
            bar.close()
        finally:
            if pool is not None:
                pool.shutdown(wait=True, cancel_futures=True)

        manifest_order = {clip_id: position for position, clip_id in enumerate(seen_in_order)}
        rows.sort(key=lambda row: manifest_order[row["clip_id"]])  # cache hits and new clips, in manifest order
        feature_table = pd.DataFrame(rows)
        if feature_table.empty:
            feature_table = pd.DataFrame(columns=["clip_id", "event_timestamp"])
        feature_table.to_parquet(out_dir / FEATURE_TABLE, index=False)
        fault_point(f"features:wrote:{FEATURE_TABLE}")

        step_manifest = StepManifest(
            step=STEP_NAME,
            inputs={"clip_manifest": hash_file(clip_manifest), "clip_manifest_path": str(clip_manifest)},
            parameters={
                "encoders": encoder_cfg.model_dump(mode="json"), "encoder_hash": encoder_hash,
                "n_frames": n_frames, "n_windows": n_windows, "face_size": face_size,
                "speech_ratio": speech_ratio, "workers": workers,
            },
            kept=len(rows),
            skipped=skipped,
            outputs={"clip_features": FEATURE_TABLE, "shards": f"{SHARD_DIR}/"},
            timings_s={"hash": round(hashing_s, 4), "build_encoders": round(build_s, 4), "decode": round(decode_s, 4),
                       "encode": round(encode_s, 4), "total": round(time.perf_counter() - started, 4)},
            extra={
                "cache_hits": cache_hits, "computed": len(rows) - cache_hits,
                "d_vision": len(rows[0]["frames_mean"]) if rows else None,
                "d_audio": len(rows[0]["audio_mean"]) if rows else None,
            },
        )
        step_manifest.write(out_dir)
    return step_manifest


def _quarantine(clip_id: str, error: BaseException) -> SkippedRecord:
    if isinstance(error, MediaError):
        return SkippedRecord(record_id=clip_id, reason=error.reason, detail=str(error))
    # Not a known media failure: keep the run going, but say loudly what happened.
    logger.warning("clip %s: unexpected %s while decoding: %s", clip_id, type(error).__name__, error)
    return SkippedRecord(record_id=clip_id, reason="decode_error", detail=f"{type(error).__name__}: {error}")
