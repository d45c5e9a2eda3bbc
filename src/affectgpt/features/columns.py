"""One vocabulary for per-clip tables: the Feast view field names.

Producers keep their own naming (`affectgpt features extract` writes pooled vectors as
`frames_mean`, `affectgpt infer` writes `extracted_labels`); Feast ingest and the drift monitor
both read them through here, so a column has one name in the feature store, in
`configs/monitoring.yaml` and in a drift report, whichever file or view it came from.

Gold labels (the clip manifest's `emotion`, `valence`, `ov_labels`) are never model outputs:
model-output columns come only from predictions (`read_predictions`), so a monitored or served
`predicted_label` is always what a model said, never the annotation.

Nothing here imports Feast: the drift monitor and the notebook load it cheaply.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from affectgpt.errors import BadInput
from affectgpt.jsonline import JSONLineError, iter_lines, loads_line

# Canonical field -> names producers use for it, in order of preference.
FIELD_ALIASES: dict[str, tuple[str, ...]] = {
    "frame_emb": ("frame_emb", "frames_pooled", "frames_mean", "frames"),
    "face_emb": ("face_emb", "faces_pooled", "faces_mean", "faces"),
    "audio_emb": ("audio_emb", "audio_pooled", "audio_mean", "audio"),
}
# Columns derived from a text column when the table lacks them.
DERIVED_LENGTHS: dict[str, str] = {"subtitle_len": "subtitle", "description_len": "description"}
# Annotation columns of a clip manifest / caption records: never copied into model outputs.
GOLD_LABEL_COLUMNS: tuple[str, ...] = ("emotion", "valence", "ov_labels", "sentiment")
# Columns that mark a table as model predictions (what `read_predictions` returns).
PREDICTION_MARKER = "predicted_label"
PREDICTION_COLUMNS: tuple[str, ...] = (
    "predicted_label", "ov_labels", "description", "description_len", "prompt_type", "decoding", "dataset")


def canonical_columns(table: pd.DataFrame, embed_text: bool = False) -> pd.DataFrame:
    """The table with producer names mapped onto the view field names (`frames_mean` ->
    `frame_emb`, ...) and `subtitle_len` / `description_len` derived from their text when absent.
    A table that already has the canonical name keeps it; the producer's column is dropped.
    With `embed_text`, `text_emb` is computed from `subtitle` when absent, as Feast ingest does
    (MiniLM, 384-d), so a file batch and a Feast batch carry the same embeddings."""
    frame = table.copy(deep=False)
    renames: dict[str, str] = {}
    for field, aliases in FIELD_ALIASES.items():
        if field in frame.columns:
            continue
        source = next((name for name in aliases if name in frame.columns), None)
        if source is not None:
            renames[source] = field
    frame = frame.rename(columns=renames)
    for length, text in DERIVED_LENGTHS.items():
        if length not in frame.columns and text in frame.columns:
            frame[length] = frame[text].map(lambda v: len(v) if isinstance(v, str) else pd.NA).astype("Int64")
    if embed_text and "text_emb" not in frame.columns and "subtitle" in frame.columns and len(frame):
        from affectgpt.features.text import embed_texts

        frame["text_emb"] = list(embed_texts(frame["subtitle"].tolist()))
    return frame


def is_predictions_table(table: pd.DataFrame) -> bool:
    """True for model predictions (they carry `predicted_label`); a clip manifest's gold
    `emotion`/`ov_labels` do not make a table predictions."""
    return PREDICTION_MARKER in table.columns


def read_predictions(path: str | Path) -> pd.DataFrame:
    """`affectgpt infer` JSONL as model-output columns, one row per clip:

    `predicted_label` (the first extracted label, null when none), `ov_labels` (all extracted
    labels), `description`/`description_len` (the generated text, for `--prompt description`),
    plus `prompt_type`, `decoding`, `dataset`. The `output` of an `ov` prompt is a label list,
    not a description, so it is not reported as one.
    """
    path = Path(path)
    rows = []
    for record in _records(path):
        labels = [str(label) for label in (record.get("extracted_labels") or [])]
        prompt = record.get("prompt_type")
        description = record.get("output") if prompt == "description" else None
        rows.append({
            "clip_id": str(record["clip_id"]),
            "predicted_label": labels[0] if labels else None,
            "ov_labels": labels,
            "description": description,
            "description_len": len(description) if isinstance(description, str) else None,
            "prompt_type": prompt,
            "decoding": record.get("decoding"),
            "dataset": record.get("dataset"),
        })
    frame = pd.DataFrame(rows, columns=["clip_id", *PREDICTION_COLUMNS])
    frame["description_len"] = frame["description_len"].astype("Int64")
    if frame["description"].isna().all():
        frame = frame.drop(columns=["description", "description_len"])
    return frame.drop_duplicates("clip_id", keep="last").reset_index(drop=True)


def _records(path: Path) -> list[dict]:
    """The JSON objects of a predictions file; a bad line is an error naming file and line
    (a predictions file is one model's output: a damaged line means a damaged file)."""
    records = []
    for number, text in iter_lines(path):
        where = f"{path} line {number}"
        try:
            if isinstance(text, JSONLineError):
                raise text
            record = loads_line(text, where)
        except JSONLineError as exc:
            raise BadInput(str(exc)) from None
        if not isinstance(record, dict) or not record.get("clip_id"):
            raise BadInput(f"{where}: not a prediction (a JSON object with clip_id, as `affectgpt infer` writes)")
        records.append(record)
    return records
