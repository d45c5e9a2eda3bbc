"""`hf` describer: a transformers model from a local path writes the clue.

The paper used multimodal LLMs as clue writers (SALMONN on the audio, Chat-UniVi on the video).
What the checkpoint takes is read from its config:

* a vision-language model (`AutoModelForImageTextToText`, e.g. LLaVA) sees up to 4 face crops
  (the sampled frames when no face was found) for the visual clue;
* an audio-language model (`AutoModelForMultimodalLM` with an audio encoder, e.g. Qwen2-Audio)
  hears the clip's 16 kHz audio for the audio clue; a speech seq2seq model
  (`AutoModelForSpeechSeq2Seq`) gets the audio alone;
* a text-only causal LM reads the clip's measured signals for its modality (prosody for audio;
  face classifier, smiles and head motion for video) and puts them into words.

Decoding is greedy, so a rebuild writes the same clue.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from affectgpt.data.config import HFDescriberConfig
from affectgpt.data.describers.acoustic import AcousticDescriber
from affectgpt.data.describers.visual import FaceExpressionDescriber
from affectgpt.llm_client import complete_local, complete_local_media, local_model_kind
from affectgpt.manifest import hash_checkpoint

PROMPTS = {
    "audio": ("Here are acoustic measurements of a person's speech: {evidence} "
              "Describe the emotional state conveyed by the voice in one or two sentences."),
    "visual": ("Here are observations of a person's face in a video: {evidence} "
               "Describe the person's facial expression and emotional state in one or two sentences."),
}
MEDIA_PROMPTS = {
    "audio": "Describe the emotional state conveyed by this speaker's voice (tone, pitch, pace) in two sentences.",
    "visual": "These are frames of one person's face in a video. Describe the facial expression and "
              "emotional state in two sentences.",
}
# which model kinds can write which modality's clue from the media itself
MEDIA_KINDS = {"visual": {"vision"}, "audio": {"audio", "speech_seq2seq"}}
N_IMAGES = 4


class HFDescriber:
    def __init__(self, config: HFDescriberConfig) -> None:
        self.config = config
        self.name = config.name
        self.modality = config.modality
        model_dir = Path(config.model_path)
        if not (model_dir / "config.json").is_file():
            raise ValueError(f"describer {config.name!r}: {model_dir} has no config.json; "
                             "model_path must be a folder saved with save_pretrained")
        self.kind = local_model_kind(str(model_dir))
        if self.kind != "text" and self.kind not in MEDIA_KINDS[self.modality]:
            raise ValueError(f"describer {config.name!r}: {model_dir} is a {self.kind} model and cannot write "
                             f"the {self.modality} clue; use it for the other modality or pick another model")
        self.needs_media = self.kind != "text"  # a text LM works from cached signals alone
        self.version = _model_version(model_dir)
        self._evidence = AcousticDescriber() if config.modality == "audio" else FaceExpressionDescriber()

    def describe(self, clip: dict, signals, media=None) -> str:
        if self.kind == "text":
            evidence = self._evidence.describe(clip, signals)
            prompt = PROMPTS[self.modality].format(evidence=evidence)
            return complete_local(self.config.model_path, prompt, self.config.max_new_tokens) or evidence
        if media is None:
            raise ValueError(f"describer {self.name!r} ({self.kind} model) needs the decoded clip")
        if self.modality == "visual":
            answer = complete_local_media(self.config.model_path, MEDIA_PROMPTS["visual"], images=face_images(media),
                                          max_new_tokens=self.config.max_new_tokens)
        else:
            length = max(1, int(media.audio_duration_s * media.sample_rate_hz))
            answer = complete_local_media(self.config.model_path, MEDIA_PROMPTS["audio"],
                                          audio=np.asarray(media.audio_16k[:length], dtype=np.float32),
                                          sampling_rate_hz=media.sample_rate_hz,
                                          max_new_tokens=self.config.max_new_tokens)
        # an empty answer (the model stopped at once) falls back to the measured evidence
        return answer or (self._evidence.describe(clip, signals) if signals is not None else "")


def face_images(media) -> list[np.ndarray]:
    """Up to N_IMAGES evenly spaced face crops (RGB uint8); the sampled frames when no face was found,
    so the model still sees the scene."""
    found = [index for index, ok in enumerate(media.face_found) if ok]
    source, indices = (media.faces, found) if found else (media.frames, list(range(len(media.frames))))
    picks = np.linspace(0, len(indices) - 1, num=min(N_IMAGES, len(indices))).round().astype(int)
    return [np.ascontiguousarray(source[indices[p]]) for p in sorted(set(picks.tolist()))]


def _model_version(model_dir: Path) -> str:
    """Content hash of the checkpoint (config, tokenizer, weights): retrained or swapped weights
    are a new version, so their clues are never taken from the cache."""
    return hash_checkpoint(model_dir)[:12]
