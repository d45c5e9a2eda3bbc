"""The Feast objects of the platform: the `clip` entity and its three feature views.

Declared once here (not in the generated repo) so training, inference, the drift monitor and
`feast apply` all read the same schema; the repo folder only says where the data lives.
The schema is plain data (feature name -> Feast type, spelled as Feast prints it); the Feast
objects are built on first use, so reading the schema does not import Feast (seconds).
"""

from __future__ import annotations

from datetime import timedelta
from functools import cache

from affectgpt.errors import BadInput

ENTITY_KEY = "clip_id"
TIMESTAMP_COLUMN = "event_timestamp"
CREATED_COLUMN = "created_timestamp"
# Offline tables live under the repo folder; relative paths keep a repo movable (Feast resolves
# them against the folder that holds feature_store.yaml).
DATA_SUBDIR = "data"
# Features of a clip do not go stale on their own: a value holds until a newer row replaces it.
FEATURE_TTL = timedelta(days=3650)

# Scalars are Float64 so a value read online equals the one read offline bit for bit (Float32
# would round on materialization); embeddings are stored as float32 in both stores.
CLIP_METADATA_FIELDS: dict[str, str] = {
    "duration_s": "Float64",
    "fps": "Float64",
    "face_ratio": "Float64",
    "speech_ratio": "Float64",
    "subtitle_len": "Int64",
    "language": "String",
    "source": "String",
}
CLIP_EMBEDDING_FIELDS: dict[str, str] = {
    "frame_emb": "Array(Float32)",
    "face_emb": "Array(Float32)",
    "audio_emb": "Array(Float32)",
    "text_emb": "Array(Float32)",
}
MODEL_OUTPUT_FIELDS: dict[str, str] = {
    "predicted_label": "String",
    "ov_labels": "Array(String)",
    "sentiment": "String",
    "description_len": "Int64",
    "model_version": "String",
}

VIEW_FIELDS: dict[str, dict[str, str]] = {
    "clip_metadata": CLIP_METADATA_FIELDS,
    "clip_embeddings": CLIP_EMBEDDING_FIELDS,
    "model_outputs": MODEL_OUTPUT_FIELDS,
}
VIEW_DESCRIPTIONS: dict[str, str] = {
    "clip_metadata": "Facts about a clip from decoding: length, frame rate, face and speech coverage, subtitle.",
    "clip_embeddings": "Pooled frozen-encoder embeddings (frame, face, audio; text from MiniLM, 384-d).",
    "model_outputs": "What the serving model said about a clip: labels, sentiment, description length.",
}

def feast_dtype(spelling: str):
    """The Feast type a schema entry names: `Float64`, `Int64`, `String` or `Array(<one of them>)`."""
    from feast import types

    if spelling.startswith("Array(") and spelling.endswith(")"):
        return types.Array(feast_dtype(spelling[len("Array("):-1]))
    return getattr(types, spelling)


def table_path(view_name: str) -> str:
    """Offline Parquet table of a view, relative to the repo folder."""
    return f"{DATA_SUBDIR}/{view_name}.parquet"


def _view(name: str, entity):
    from feast import FeatureView, Field, FileSource

    source = FileSource(
        name=f"{name}_source",
        path=table_path(name),
        timestamp_field=TIMESTAMP_COLUMN,
        created_timestamp_column=CREATED_COLUMN,
    )
    return FeatureView(
        name=name,
        entities=[entity],
        ttl=FEATURE_TTL,
        schema=[Field(name=field, dtype=feast_dtype(dtype)) for field, dtype in VIEW_FIELDS[name].items()],
        source=source,
        online=True,
        description=VIEW_DESCRIPTIONS[name],
        tags={"owner": "affectgpt"},
    )


@cache
def _objects() -> dict[str, object]:
    """The entity and the views, built once per process."""
    from feast import Entity
    from feast.value_type import ValueType

    clip = Entity(
        name="clip",
        join_keys=[ENTITY_KEY],
        value_type=ValueType.STRING,
        description="One video clip of the corpus or of a production batch.",
    )
    views = {name: _view(name, clip) for name in VIEW_FIELDS}
    return {"clip": clip, "FEATURE_VIEWS": views, **{f"{name}_view": view for name, view in views.items()}}


_LAZY_NAMES = {"clip", "FEATURE_VIEWS", *(f"{name}_view" for name in VIEW_FIELDS)}


def __getattr__(name: str):
    """`clip`, `clip_metadata_view`, `clip_embeddings_view`, `model_outputs_view` and
    `FEATURE_VIEWS` (name -> view), as the generated repo's `definitions.py` imports them."""
    if name in _LAZY_NAMES:
        return _objects()[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def all_objects() -> list:
    """Everything `FeatureStore.apply` needs, entity first."""
    objects = _objects()
    return [objects["clip"], *objects["FEATURE_VIEWS"].values()]


def feature_refs(views: list[str] | None = None) -> list[str]:
    """`view:feature` references for the named views (all views when None)."""
    names = list(VIEW_FIELDS) if views is None else views
    unknown = [name for name in names if name not in VIEW_FIELDS]
    if unknown:
        raise BadInput(f"unknown feature view(s) {unknown}; known: {sorted(VIEW_FIELDS)}")
    return [f"{name}:{field}" for name in names for field in VIEW_FIELDS[name]]
