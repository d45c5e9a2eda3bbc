"""AffectGPT as an MLflow pyfunc model, so the registry can version it and anything that speaks
MLflow (a notebook, `mlflow models serve`) can run it.

Input: a DataFrame with `clip_id`, `subtitle` and optionally `features`: the clip's feature
tensors themselves, as the bytes of a safetensors file (`frames`, `faces`, `audio`, as
`affectgpt features extract` writes per clip; `encode_features` makes one), or that as base64
text (what MLflow's JSON serving sends for binary). Clips without features get zeros. A
server-side path (`features_path`) is refused: a request must not choose which file the server
reads. Params: `prompt` (`ov` or `description`), `max_new_tokens` (1..MAX_NEW_TOKENS),
`batch_size` (1..MAX_BATCH_SIZE), `decoding` (`greedy` or upstream's `official`
sampling, seeded). A request of more than MAX_ROWS clips, a bad param or a missing column
refuses the whole request. What is wrong with one row refuses only that row: features over
MAX_FEATURE_BYTES, not safetensors, without one of the three tensors, over MAX_STEPS time steps,
of another width than the model's or not finite; a subtitle longer than the model's
`subtitle_char_limit()` (8 characters per prompt token by default, more than the prompt can
hold). Such a row comes back with `output` null and the reason in `error`, and the other rows
are answered, as a batch scorer answers the rows it can.
Output: a DataFrame with `clip_id`, `prompt_type`, `output` (the generated text, null for a
refused row) and `error` (null for an answered row).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import mlflow
import pandas as pd

ARTIFACT_KEY = "model_dir"
DEFAULT_PARAMS = {"prompt": "ov", "max_new_tokens": 1200, "batch_size": 8, "decoding": "greedy"}
FEATURE_KEYS = ("frames", "faces", "audio")
MAX_NEW_TOKENS = 1200  # upstream's own budget (inference_hybird.py): the most a request may ask
MAX_BATCH_SIZE = 32
MAX_ROWS = 256
MAX_FEATURE_BYTES = 32 * 1024 * 1024
MAX_STEPS = 1024
PROMPTS = ("ov", "description")


def encode_features(tensors: dict) -> bytes:
    """The request form of one clip's features: safetensors bytes of `frames`, `faces`, `audio`."""
    from safetensors.torch import save

    return save({key: tensors[key].float().contiguous() for key in FEATURE_KEYS})


def _bounded_int(settings: dict[str, Any], name: str, upper: int) -> int:
    try:
        value = int(settings[name])
    except (TypeError, ValueError) as error:
        raise ValueError(f"param {name}={settings[name]!r} is not an integer") from error
    if not 1 <= value <= upper:
        raise ValueError(f"param {name}={value} is out of range: use 1..{upper}")
    return value


def decode_features(value: Any, clip_id: str, vision_dim: int, audio_dim: int) -> dict:
    """One clip's tensors from the request, checked (size, keys, shape, dtype, finite)."""
    import base64
    import binascii

    import torch
    from safetensors.torch import load

    if isinstance(value, str):
        try:
            value = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError) as error:
            raise ValueError(f"clip {clip_id}: features is text but not base64 of a safetensors file") from error
    if not isinstance(value, (bytes, bytearray)):
        raise TypeError(f"clip {clip_id}: features must be safetensors bytes (or base64), got {type(value).__name__}")
    if len(value) > MAX_FEATURE_BYTES:
        raise ValueError(f"clip {clip_id}: features are {len(value)} bytes; the limit is {MAX_FEATURE_BYTES}")
    try:
        tensors = load(bytes(value))
    except Exception as error:  # any parse failure is the client's bad input
        raise ValueError(f"clip {clip_id}: features are not a readable safetensors file ({error})") from error
    missing = [key for key in FEATURE_KEYS if key not in tensors]
    if missing:
        raise ValueError(f"clip {clip_id}: features lack {missing}; send frames, faces and audio")
    out = {}
    for key, width in (("frames", vision_dim), ("faces", vision_dim), ("audio", audio_dim)):
        tensor = tensors[key]
        if tensor.dim() != 2 or tensor.shape[1] != width or not 1 <= tensor.shape[0] <= MAX_STEPS:
            raise ValueError(f"clip {clip_id}: {key} has shape {tuple(tensor.shape)}; expected (1..{MAX_STEPS}, {width})")
        if not tensor.is_floating_point() or not torch.isfinite(tensor).all():
            raise ValueError(f"clip {clip_id}: {key} must hold finite floating-point values")
        out[key] = tensor.float()
    return out


def _row_features(value: Any, clip_id: str, vision_dim: int, audio_dim: int) -> dict:
    """The row's tensors: decoded and checked when it sends some, zeros when it sends none
    (no column, null, empty). Raises ValueError or TypeError naming the clip otherwise."""
    import torch

    absent = value is None or (isinstance(value, float) and pd.isna(value))
    if absent or (isinstance(value, (bytes, bytearray, str)) and not value):
        return {"frames": torch.zeros(8, vision_dim), "faces": torch.zeros(8, vision_dim),
                "audio": torch.zeros(8, audio_dim)}
    return decode_features(value, clip_id, vision_dim, audio_dim)


def subtitle_errors(clip_ids: list[str], subtitles: list[str], limit: int) -> list[str | None]:
    """Per row, why its subtitle is refused (None when it is answered). Checked on characters
    before any tokenisation, so an oversized row costs nothing; the row alone is refused, as a
    batch scorer answers the rows it can."""
    return [None if len(subtitle) <= limit else
            f"clip {clip_id}: subtitle is {len(subtitle)} characters; the limit is {limit} "
            "(the prompt cannot hold more); send a shorter subtitle"
            for clip_id, subtitle in zip(clip_ids, subtitles)]


class AffectGPTPyfunc(mlflow.pyfunc.PythonModel):
    def load_context(self, context) -> None:
        from affectgpt.model.store import load_model_dir

        self.loaded = load_model_dir(context.artifacts[ARTIFACT_KEY])

    def predict(self, context, model_input: pd.DataFrame, params: dict[str, Any] | None = None) -> pd.DataFrame:
        from affectgpt.model.decoding import as_decoding
        from affectgpt.model.generation import generate_texts

        settings = {**DEFAULT_PARAMS, **(params or {})}
        if "clip_id" not in model_input.columns or "subtitle" not in model_input.columns:
            raise ValueError(f"pyfunc input needs columns clip_id and subtitle, got {list(model_input.columns)}")
        if "features_path" in model_input.columns:
            raise ValueError("features_path is not accepted (the server does not read files a request names); "
                             "send each clip's tensors in the `features` column (affectgpt.model.pyfunc.encode_features)")
        if len(model_input) > MAX_ROWS:
            raise ValueError(f"{len(model_input)} clips in one request; the limit is {MAX_ROWS}")
        decoding = as_decoding(str(settings["decoding"]))
        if str(settings["prompt"]) not in PROMPTS:
            raise ValueError(f"param prompt={settings['prompt']!r}: use one of {PROMPTS}")
        max_new_tokens = _bounded_int(settings, "max_new_tokens", MAX_NEW_TOKENS)
        batch_size = _bounded_int(settings, "batch_size", MAX_BATCH_SIZE)
        vision_dim, audio_dim = self.loaded.config.modality_dims()
        clip_ids = model_input["clip_id"].astype(str).tolist()
        subtitles = ["" if pd.isna(s) else str(s) for s in model_input["subtitle"]]
        errors = subtitle_errors(clip_ids, subtitles, self.loaded.config.subtitle_char_limit())
        features: list[dict | None] = []
        for i, row in enumerate(model_input.itertuples(index=False)):
            if errors[i] is not None:
                features.append(None)  # refused already: its features are never decoded
                continue
            try:
                features.append(_row_features(getattr(row, "features", None), clip_ids[i], vision_dim, audio_dim))
            except (TypeError, ValueError) as error:
                features.append(None)
                errors[i] = str(error).splitlines()[0]
        answered = [i for i, error in enumerate(errors) if error is None]
        texts = generate_texts(self.loaded, [subtitles[i] for i in answered], [features[i] for i in answered],
                               str(settings["prompt"]), batch_size=batch_size, max_new_tokens=max_new_tokens,
                               decoding=decoding) if answered else []
        outputs: list[str | None] = [None] * len(clip_ids)
        for i, text in zip(answered, texts):
            outputs[i] = text
        return pd.DataFrame({"clip_id": clip_ids, "prompt_type": [str(settings["prompt"])] * len(clip_ids),
                             "output": outputs, "error": errors})


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
                       ColSpec("binary", "features", required=False)]),
        outputs=Schema([ColSpec("string", "clip_id"), ColSpec("string", "prompt_type"),
                        ColSpec("string", "output", required=False), ColSpec("string", "error", required=False)]),
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
