"""The per-clip work of a build, run in worker processes: decode once, measure signals, apply the
pre-filter, run the describers. Results are cached per (content hash, component version), so
a cache hit never decodes media.
"""

from __future__ import annotations

import multiprocessing
import os
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

from affectgpt.data.cache import ClipCache, clip_keys
from affectgpt.data.config import BuildConfig
from affectgpt.data.describers import make_describer
from affectgpt.data.signals import SIGNALS_VERSION, ClipSignals, measure_signals
from affectgpt.media import MediaError, load_clip


class ClipWorker:
    """Holds the models of one process (VAD, face classifier, describers) across many clips."""

    def __init__(self, config: BuildConfig, cache_dir: str) -> None:
        self.config = config
        self.cache = ClipCache(cache_dir)
        self.describers = {
            "audio": make_describer(config.describers.audio, config.describers),
            "visual": make_describer(config.describers.visual, config.describers),
        }
        self.signals_version = f"v{SIGNALS_VERSION}-vad{config.prefilter.vad_threshold:g}"

    def process(self, clip: dict) -> dict:
        started = time.perf_counter()
        result = {"clip_id": clip["clip_id"], "computed": [], "error": None}
        try:
            key, media_hash = clip_keys(clip["video_path"], clip.get("audio_path"), clip["subtitle"])
        except OSError as exc:
            result["error"] = ("missing_file", f"{clip['video_path']}: {exc}")
            return result
        result["content_key"] = key
        result["media_hash"] = media_hash
        media = None
        payload = self.cache.get("signals", self.signals_version, key)
        if payload is None:
            try:
                media = load_clip(clip["video_path"], clip.get("audio_path"))
                signals = measure_signals(media, clip["subtitle"], self.config.prefilter.vad_threshold)
            except MediaError as exc:
                result["error"] = (exc.reason, str(exc))
                return result
            self.cache.put("signals", self.signals_version, key, signals.to_json())
            result["computed"].append("signals")
        else:
            signals = ClipSignals.from_json(payload)
        result["signals"] = signals.to_json()
        result["prefilter"] = prefilter_decision(signals, self.config)
        if not result["prefilter"]["kept"]:
            return result
        clues, versions = {}, {}
        for modality, describer in self.describers.items():
            cached = self.cache.get(f"clue-{describer.name}", describer.version, key)
            if cached is None:
                if describer.needs_media and media is None:
                    try:
                        media = load_clip(clip["video_path"], clip.get("audio_path"))
                    except MediaError as exc:
                        result["error"] = (exc.reason, str(exc))
                        return result
                cached = {"text": describer.describe(clip, signals, media)}
                self.cache.put(f"clue-{describer.name}", describer.version, key, cached)
                result["computed"].append(describer.name)
            clues[modality] = cached["text"]
            versions[describer.name] = describer.version
        result["clues"] = clues
        result["describers"] = versions
        result["seconds"] = round(time.perf_counter() - started, 4)
        return result


def prefilter_decision(signals: ClipSignals, config: BuildConfig) -> dict:
    """Duration bounds, an audible voice (silero-vad speech), a visible face (share of frames)."""
    settings = config.prefilter
    duration = signals.duration_s
    if duration < settings.min_duration_s:
        return {"kept": False, "reason": "too_short_clip", "detail": f"{duration:.2f} s < {settings.min_duration_s} s"}
    if duration > settings.max_duration_s:
        return {"kept": False, "reason": "too_long_clip", "detail": f"{duration:.2f} s > {settings.max_duration_s} s"}
    if settings.require_voice and signals.speech_s < settings.min_speech_s:
        return {"kept": False, "reason": "no_voice",
                "detail": f"{signals.speech_s:.2f} s of speech (silero-vad) < {settings.min_speech_s} s"}
    if settings.require_face and signals.face_ratio < settings.min_face_ratio:
        return {"kept": False, "reason": "no_face",
                "detail": f"face in {signals.face_ratio:.0%} of sampled frames < {settings.min_face_ratio:.0%}"}
    return {"kept": True, "reason": "", "detail": ""}


# --- process-pool plumbing: one ClipWorker per process -------------------------------------------
_WORKER: ClipWorker | None = None


def init_worker(config_json: dict, cache_dir: str) -> None:
    """Pool initializer: offline defaults, one compute thread per library (parallelism comes
    from the processes: N workers on N cores must not each start N threads), and this worker's
    ClipWorker. Its models are cached per process (`lru_cache` in `affectgpt.data.signals`, the
    describers in the ClipWorker), so each is loaded once per worker, not per clip or shard."""
    from affectgpt.offline import apply_offline_defaults

    apply_offline_defaults()
    import cv2
    import torch

    torch.set_num_threads(1)
    cv2.setNumThreads(1)
    global _WORKER
    _WORKER = ClipWorker(BuildConfig.model_validate(config_json), cache_dir)


def process_shard(clips: list[dict]) -> list[dict]:
    assert _WORKER is not None, "init_worker was not called in this process"
    return [_WORKER.process(clip) for clip in clips]


def process_clips(clips: list[dict], config: BuildConfig, cache_dir: str, workers: int,
                  on_result: Callable[[dict], None], shard_size: int = 2) -> None:
    """`ClipWorker.process` over `clips` in this process and `workers - 1` spawned ones (spawned:
    safe with torch/onnx threads), calling `on_result` with each result as it comes.

    Why this process works too, instead of waiting on `workers` spawned ones: a fresh worker
    spends seconds importing torch/keras and loading its models before its first clip. Here
    work starts at once, the helpers take shards only once one of them is ready, and a helper
    still starting when the clips run out is stopped rather than waited for; so more workers
    are never much slower than one, however small the build."""
    shards = deque(clips[i:i + shard_size] for i in range(0, len(clips), shard_size))
    local = ClipWorker(config, cache_dir)
    helpers = max(0, workers - 1)
    if helpers == 0 or len(shards) < 2:
        for shard in shards:
            for clip in shard:
                on_result(local.process(clip))
        return
    pool = ProcessPoolExecutor(max_workers=helpers, mp_context=multiprocessing.get_context("spawn"),
                               initializer=init_worker, initargs=(config.model_dump(mode="json"), cache_dir))
    try:
        ready = [pool.submit(os.getpid) for _ in range(helpers)]  # done once a helper has initialised
        pending: set = set()
        while shards or pending:
            for future in [f for f in pending if f.done()]:
                pending.discard(future)
                for result in future.result():
                    on_result(result)
            if any(probe.done() for probe in ready):
                while shards and len(pending) < 2 * helpers:  # two in flight each: no idle gap between shards
                    pending.add(pool.submit(process_shard, shards.pop()))  # helpers from the end, this process from the start
            if shards:
                for clip in shards.popleft():
                    on_result(local.process(clip))
            elif pending:
                wait(pending, return_when=FIRST_COMPLETED)
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
        for process in list((getattr(pool, "_processes", None) or {}).values()):
            process.terminate()  # idle, or still importing: nothing of theirs is waited for
