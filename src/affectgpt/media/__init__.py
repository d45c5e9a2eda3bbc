"""Clip decoding: uniformly sampled RGB frames, face crops, 16 kHz audio windows, and cheap
probing for ingest validation. Every failure is a `MediaError` with a short `.reason` code."""

from affectgpt.media.audio import TARGET_SAMPLE_RATE_HZ, cut_windows, load_audio, pad_audio, window_starts
from affectgpt.media.clip import ClipMedia, load_clip
from affectgpt.media.errors import REASON_ADVICE, MediaError
from affectgpt.media.faces import FaceCrops, KnownFaces, crop_faces, detect_face
from affectgpt.media.frames import decode_frames, sample_frame_indices
from affectgpt.media.probe import VideoInfo, probe_video

__all__ = [
    "REASON_ADVICE",
    "TARGET_SAMPLE_RATE_HZ",
    "ClipMedia",
    "FaceCrops",
    "KnownFaces",
    "MediaError",
    "VideoInfo",
    "crop_faces",
    "cut_windows",
    "decode_frames",
    "detect_face",
    "load_audio",
    "load_clip",
    "pad_audio",
    "probe_video",
    "sample_frame_indices",
    "window_starts",
]
