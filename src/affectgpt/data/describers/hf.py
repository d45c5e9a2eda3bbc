"""`hf` describer: a transformers language model from a local path writes the clue.

The model reads the clip's measured signals for its modality (prosody for audio; face
classifier, smiles and head motion for video) and the subtitle, and answers in words, the way
the paper used SALMONN and Chat-UniVi as clue writers. Decoding is greedy (reproducible).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from affectgpt.data.config import HFDescriberConfig
from affectgpt.data.describers.acoustic import AcousticDescriber
from affectgpt.data.describers.visual import FaceExpressionDescriber
from affectgpt.llm_client import complete_local

PROMPTS = {
    "audio": ("Here are acoustic measurements of a person's speech: {evidence} "
              "Describe the emotional state conveyed by the voice in one or two sentences."),
    "visual": ("Here are observations of a person's face in a video: {evidence} "
               "Describe the person's facial expression and emotional state in one or two sentences."),
}


class HFDescriber:
    needs_media = False

    def __init__(self, config: HFDescriberConfig) -> None:
        self.config = config
        self.name = config.name
        self.modality = config.modality
        self.version = _model_version(Path(config.model_path))
        self._evidence = AcousticDescriber() if config.modality == "audio" else FaceExpressionDescriber()

    def describe(self, clip: dict, signals, media=None) -> str:
        evidence = self._evidence.describe(clip, signals)
        prompt = PROMPTS[self.modality].format(evidence=evidence)
        return complete_local(self.config.model_path, prompt, self.config.max_new_tokens) or evidence


def _model_version(model_dir: Path) -> str:
    """Hash of the model's config and weight file names+sizes: a swapped checkpoint is a new version."""
    digest = hashlib.sha256()
    for path in sorted(model_dir.glob("*")):
        if path.is_file() and (path.suffix in {".json", ".safetensors", ".bin", ".model"}):
            digest.update(path.name.encode())
            digest.update(str(path.stat().st_size).encode())
            if path.suffix == ".json":
                digest.update(path.read_bytes())
    return digest.hexdigest()[:12]
