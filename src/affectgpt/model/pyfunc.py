"""AffectGPT as an MLflow pyfunc model, so the registry can version it and anything that speaks
MLflow (a notebook, `mlflow models serve`) can run it.

Input: a DataFrame with `clip_id`, `subtitle` and optionally `features_path` (a per-clip
safetensors shard from `affectgpt features extract`; clips without one get zero features).
Params: `prompt` (`ov` or `description`), `max_new_tokens` (default 1200), `batch_size`,
`decoding` (`greedy` or upstream's `official` sampling, seeded).
Output: a DataFrame with `clip_id`, `prompt_type`, `output` (the generated text).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import mlflow
import pandas as pd

ARTIFACT_KEY = "model_dir"
DEFAULT_PARAMS = {"prompt": "ov", "max_new_tokens": 1200, "batch_size": 8, "decoding": "greedy"}


class AffectGPTPyfunc(mlflow.pyfunc.PythonModel):
    def load_context(self, context) -> None:
        from affectgpt.model.store import load_model_dir

        self.loaded = load_model_dir(context.artifacts[ARTIFACT_KEY])

    def predict(self, context, model_input: pd.DataFrame, params: dict[str, Any] | None = None) -> pd.DataFrame:
        import torch
        from safetensors.torch import load_file

        from affectgpt.model.generation import generate_texts

        settings = {**DEFAULT_PARAMS, **(params or {})}
        if "clip_id" not in model_input.columns or "subtitle" not in model_input.columns:
            raise ValueError(f"pyfunc input needs columns clip_id and subtitle, got {list(model_input.columns)}")
        vision_dim, audio_dim = self.loaded.config.modality_dims()
        features = []
        for row in model_input.itertuples(index=False):
            path = getattr(row, "features_path", None)
            if isinstance(path, str) and path:
                tensors = load_file(path)
                features.append({key: tensors[key].float() for key in ("frames", "faces", "audio")})
            else:
                features.append({"frames": torch.zeros(8, vision_dim), "faces": torch.zeros(8, vision_dim),
                                 "audio": torch.zeros(8, audio_dim)})
        subtitles = ["" if pd.isna(s) else str(s) for s in model_input["subtitle"]]
        texts = generate_texts(self.loaded, subtitles, features, str(settings["prompt"]),
                               batch_size=int(settings["batch_size"]), max_new_tokens=int(settings["max_new_tokens"]),
                               decoding=str(settings["decoding"]))
        return pd.DataFrame({"clip_id": model_input["clip_id"].astype(str).tolist(),
                             "prompt_type": [str(settings["prompt"])] * len(texts), "output": texts})


def _requirements() -> list[str]:
    from importlib.metadata import version

    packages = ["torch", "transformers", "peft", "safetensors", "tokenizers", "mlflow", "pandas"]
    return [f"{name}=={version(name).split('+')[0]}" for name in packages]


def log_model_to_mlflow(model_dir: str | Path, *, artifact_path: str = "model",
                        registered_model_name: str | None = None):
    """Log a saved model directory as a pyfunc model in the active run (or a new one), as
    models-from-code (no pickled Python object in the artifact). Returns MLflow's ModelInfo
    (`.model_uri`, `.run_id`)."""
    from mlflow.models import ModelSignature
    from mlflow.types import ColSpec, ParamSchema, ParamSpec, Schema

    model_dir = Path(model_dir)
    if not (model_dir / "config.json").is_file():
        raise FileNotFoundError(f"{model_dir}: not an AffectGPT model directory (no config.json)")
    signature = ModelSignature(
        inputs=Schema([ColSpec("string", "clip_id"), ColSpec("string", "subtitle"),
                       ColSpec("string", "features_path", required=False)]),
        outputs=Schema([ColSpec("string", "clip_id"), ColSpec("string", "prompt_type"), ColSpec("string", "output")]),
        params=ParamSchema([ParamSpec("prompt", "string", DEFAULT_PARAMS["prompt"]),
                            ParamSpec("max_new_tokens", "long", DEFAULT_PARAMS["max_new_tokens"]),
                            ParamSpec("batch_size", "long", DEFAULT_PARAMS["batch_size"]),
                            ParamSpec("decoding", "string", DEFAULT_PARAMS["decoding"])]),
    )
    return mlflow.pyfunc.log_model(
        name=artifact_path, python_model=str(Path(__file__).with_name("pyfunc_entry.py")),
        artifacts={ARTIFACT_KEY: str(model_dir)},
        signature=signature, pip_requirements=_requirements(), registered_model_name=registered_model_name,
    )
