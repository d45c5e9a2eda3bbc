"""The per-clip work of a build, run in worker processes: decode once, measure signals, apply the
pre-filter, run the describers. Results are cached per (content hash, component version), so
a cache hit never decodes media.
"""

from __future__ import annotations

import time

from affectgpt.data.cache import ClipCache, clip_content_key
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
            key = clip_content_key(clip["video_path"], clip.get("audio_path"), clip["subtitle"])
        except OSError as exc:
            result["error"] = ("missing_file", f"{clip['video_path']}: {exc}")
            return result
        result["content_key"] = key
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
    import os

    os.environ.setdefault("KERAS_BACKEND", "torch")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch

    torch.set_num_threads(1)  # one core per worker; parallelism comes from processes
    global _WORKER
    _WORKER = ClipWorker(BuildConfig.model_validate(config_json), cache_dir)


def process_shard(clips: list[dict]) -> list[dict]:
    assert _WORKER is not None, "init_worker was not called in this process"
    return [_WORKER.process(clip) for clip in clips]
