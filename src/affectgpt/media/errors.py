"""The one error type media decoding raises for bad input.

Batch steps (dataset builder, feature extraction) quarantine a clip on `MediaError` and use
`.reason` as the quarantine reason, so reasons are short stable codes, not free text.
"""

from __future__ import annotations

from pathlib import Path

# Reason code -> what a person should do about it (appended to the message).
REASON_ADVICE: dict[str, str] = {
    "missing_file": "check the path in the clip manifest (relative paths resolve against the manifest's folder)",
    "corrupt_video": "re-export or re-download the clip; `ffprobe FILE` shows what the decoder sees",
    "no_video": "the file holds no video stream; point video_path at a video file",
    "no_audio": "the video has no audio stream; give an audio_path (wav) for this clip",
    "bad_audio": "re-export the audio (e.g. `ffmpeg -i FILE -ac 1 -ar 16000 out.wav`)",
    "empty_audio": "the audio holds no samples; re-export it or drop the clip",
}


class MediaError(ValueError):
    """A clip's media cannot be used. `.path` names the file, `.reason` is a short code
    (one of REASON_ADVICE's keys) and `.detail` says what the decoder reported."""

    def __init__(self, path: str | Path, reason: str, detail: str = "") -> None:
        self.path = Path(path)
        self.reason = reason
        self.detail = detail
        advice = REASON_ADVICE.get(reason, "")
        message = f"{self.path}: {reason}"
        if detail:
            message += f" ({detail})"
        if advice:
            message += f"; {advice}"
        super().__init__(message)

    def __reduce__(self):  # keep pickling working (worker processes send these back)
        return (type(self), (str(self.path), self.reason, self.detail))
