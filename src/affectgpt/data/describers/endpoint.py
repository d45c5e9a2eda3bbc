"""`endpoint` describer: an OpenAI-compatible server (e.g. vLLM serving a video or audio LLM)
receives the clip's frames as `image_url` parts or its audio as an `input_audio` part and
writes the clue."""

from __future__ import annotations

import base64
import hashlib
import io

import numpy as np

from affectgpt.data.config import EndpointDescriberConfig
from affectgpt.llm_client import complete_endpoint

PROMPTS = {
    "audio": "Describe the emotional state conveyed by this speaker's voice (tone, pitch, pace) in two sentences.",
    "visual": "These are frames of one video. Describe the person's facial expression, gestures and emotional state in two sentences.",
}
N_IMAGES = 4


class EndpointDescriber:
    needs_media = True

    def __init__(self, config: EndpointDescriberConfig) -> None:
        self.config = config
        self.name = config.name
        self.modality = config.modality
        self.version = hashlib.sha256(f"{config.url}|{config.model}|{PROMPTS[config.modality]}".encode()).hexdigest()[:12]

    def describe(self, clip: dict, signals, media) -> str:
        parts: list[dict] = [{"type": "text", "text": PROMPTS[self.modality]}]
        if self.modality == "visual":
            picks = np.linspace(0, len(media.frames) - 1, num=min(N_IMAGES, len(media.frames))).astype(int)
            for index in picks:
                parts.append({"type": "image_url", "image_url": {"url": _jpeg_data_url(media.frames[index])}})
        else:
            length = int(media.audio_duration_s * media.sample_rate_hz)
            parts.append({"type": "input_audio",
                          "input_audio": {"data": _wav_base64(media.audio_16k[:length], media.sample_rate_hz),
                                          "format": "wav"}})
        return complete_endpoint(self.config.url, self.config.model, parts, max_tokens=self.config.max_tokens,
                                 api_key_env=self.config.api_key_env, timeout_s=self.config.timeout_s)


def _jpeg_data_url(frame_rgb: np.ndarray) -> str:
    import cv2

    ok, encoded = cv2.imencode(".jpg", cv2.cvtColor(frame_rgb, cv2.COLOR_RGB2BGR))
    if not ok:
        raise ValueError("frame could not be JPEG-encoded")
    return "data:image/jpeg;base64," + base64.b64encode(encoded.tobytes()).decode()


def _wav_base64(samples: np.ndarray, sample_rate_hz: int) -> str:
    import soundfile as sf

    buffer = io.BytesIO()
    sf.write(buffer, samples, sample_rate_hz, format="WAV", subtype="PCM_16")
    return base64.b64encode(buffer.getvalue()).decode()
