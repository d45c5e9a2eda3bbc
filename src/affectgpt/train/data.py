"""Training/inference data: caption records from a Parquet file plus optional cached features.

A data folder holds one of `mer-caption-plus.parquet`, `mer-caption.parquet` or `records.parquet`
(columns `clip_id`, `description`, `ov_labels`, `subtitle`, `split`; `sentiment`, `dataset` are
optional) and optionally `features/` written by `affectgpt features extract`. Clips without
features get zero modality features; they are counted and reported, never silently dropped.
"""

from __future__ import annotations

import ast
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

if TYPE_CHECKING:  # torch loads where tensors are made: scoring reads records without it
    import torch

from affectgpt.data.splits import hash_split
from affectgpt.errors import BadInput, NotFound
from affectgpt.manifest import SkippedRecord

RECORD_FILES = ("mer-caption-plus.parquet", "mer-caption.parquet", "records.parquet")
FEATURES_DIR = "features"
SPLIT_ALIASES = {"valid": "val", "validation": "val", "dev": "val", "eval": "val"}
N_STEPS = 8  # frames / windows per clip, fixed by the feature extractor


class DataError(BadInput, ValueError):
    """Unusable input data; the message names the file and what to do."""


class DataNotFound(NotFound, DataError):
    """The data folder or its records file does not exist (exit code: not found)."""


@dataclass
class CaptionSample:
    clip_id: str
    subtitle: str
    description: str | None
    ov_labels: list[str]
    split: str
    dataset: str
    features: dict[str, torch.Tensor]
    has_features: bool


@dataclass
class CaptionData:
    records_path: Path
    samples: list[CaptionSample]
    skipped: list[SkippedRecord] = field(default_factory=list)
    features_dir: Path | None = None
    split_source: str = "column"

    def split(self, name: str) -> list[CaptionSample]:
        return [sample for sample in self.samples if sample.split == name]

    @property
    def missing_features(self) -> int:
        return sum(not sample.has_features for sample in self.samples)


def find_records_file(data_dir: str | Path) -> Path:
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise DataNotFound(f"{data_dir}: data folder not found")
    for name in RECORD_FILES:
        if (data_dir / name).is_file():
            return data_dir / name
    raise DataNotFound(f"{data_dir}: no caption records; expected one of {', '.join(RECORD_FILES)} "
                    "(build one with `affectgpt build dataset`)")


def labels_as_written(value: Any) -> list[str]:
    """ov_labels as stored by different writers: list/array, python-list string or comma string.

    Not `affectgpt.bench.mode.parse_labels`: scoring lower-cases and re-spells labels for the
    word-form table, while a training target keeps them as the annotator wrote them."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return []
    if isinstance(value, (list, tuple, np.ndarray)):
        items = list(value)
    else:
        text = str(value).strip()
        if text.startswith("["):
            try:
                items = list(ast.literal_eval(text))
            except (ValueError, SyntaxError):
                items = text.strip("[]").split(",")
        else:
            items = text.split(",")
    return [str(item).strip().strip("'\"").strip() for item in items if str(item).strip().strip("'\"").strip()]


def labels_given_empty(value: Any) -> bool:
    """True when a record carries an explicitly empty OV label list (`[]`, an empty array):
    upstream trains such a record with the label `neutral`. Missing values (None/NaN/"") are
    not labels at all."""
    if isinstance(value, (list, tuple, np.ndarray)):
        return len(value) == 0
    return isinstance(value, str) and value.strip().replace(" ", "") in ("[]", "['']", '[""]')


def _text(value: Any) -> str:
    return _raw_text(value).strip()


def _raw_text(value: Any) -> str:
    """A text field as written: upstream feeds subtitles and descriptions to the prompt and the
    target unstripped (`prompt.strip_text` strips them in the prompt encoder instead)."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return ""
    return str(value)


def _hash_split(clip_id: str, val_fraction: float = 0.1) -> str:
    """Records without a split column: a stable 90/10 train/val split by clip id."""
    return hash_split(clip_id, (("val", val_fraction), ("train", 1.0 - val_fraction)))


def record_split(row: dict[str, Any]) -> str:
    """The split a record belongs to: its `split` column (aliases folded: `valid` -> `val`), else
    a stable hash of its clip id. Inference and `bench run --datasets local=DIR` both use it, so
    they select the same clips."""
    split = _text(row.get("split")).lower() or _hash_split(_text(row.get("clip_id")))
    return SPLIT_ALIASES.get(split, split)


def _zero_features(vision_dim: int, audio_dim: int) -> dict[str, torch.Tensor]:
    import torch

    return {"frames": torch.zeros(N_STEPS, vision_dim), "faces": torch.zeros(N_STEPS, vision_dim),
            "audio": torch.zeros(N_STEPS, audio_dim)}


def _check_features(features: dict[str, torch.Tensor], vision_dim: int, audio_dim: int) -> str | None:
    import torch

    expected = {"frames": vision_dim, "faces": vision_dim, "audio": audio_dim}
    for key, dim in expected.items():
        tensor = features.get(key)
        if tensor is None:
            return f"missing tensor '{key}'"
        if tensor.dim() != 2 or tensor.shape[1] != dim:
            return f"'{key}' has shape {tuple(tensor.shape)}, expected [T, {dim}] for this model config"
        if not torch.isfinite(tensor).all():
            return f"'{key}' holds NaN/inf"
    return None


def load_caption_data(data_dir: str | Path, vision_dim: int, audio_dim: int, *, need_target: bool = True,
                      splits: Sequence[str] | None = None, default_dataset: str | None = None) -> CaptionData:
    """Read records (and features) of a data folder. Bad records are quarantined with a reason:
    duplicate ids, no target to train on (when `need_target`), unreadable or mis-shaped features."""
    data_dir = Path(data_dir)
    records_path = find_records_file(data_dir)
    try:
        table = pd.read_parquet(records_path)
    except Exception as exc:  # noqa: BLE001 - pyarrow raises several types for a damaged file
        raise DataError(f"{records_path}: cannot read Parquet ({exc}); rebuild the records file") from None
    if "clip_id" not in table.columns:
        raise DataError(f"{records_path}: column 'clip_id' is missing (columns: {', '.join(table.columns)})")
    if need_target and "description" not in table.columns and "ov_labels" not in table.columns:
        raise DataError(f"{records_path}: needs a 'description' or an 'ov_labels' column to train on")
    split_source = "column" if "split" in table.columns else "hash-90/10"
    features_dir = data_dir / FEATURES_DIR if (data_dir / FEATURES_DIR).is_dir() else None
    reader = None
    if features_dir is not None:
        from affectgpt.features.packs import FeatureReader

        try:
            reader = FeatureReader(features_dir)  # the index once; each clip's tensors read on demand
        except Exception as exc:  # noqa: BLE001 - pyarrow raises several types for a damaged index
            raise DataError(f"{features_dir}: unreadable features index ({exc}); extract the features again") from None
    default_dataset = default_dataset or data_dir.name

    samples: list[CaptionSample] = []
    skipped: list[SkippedRecord] = []
    seen: set[str] = set()
    for row_number, row in enumerate(table.to_dict("records"), start=1):
        clip_id = _text(row.get("clip_id"))
        where = f"{records_path.name} row {row_number}"
        if not clip_id:
            skipped.append(SkippedRecord(record_id=f"row-{row_number}", reason="missing_clip_id", detail=where))
            continue
        if clip_id in seen:
            skipped.append(SkippedRecord(record_id=clip_id, reason="duplicate_id", detail=where))
            continue
        seen.add(clip_id)
        split = record_split(row)
        if splits is not None and split not in splits:
            continue
        description = _raw_text(row.get("description")) if _text(row.get("description")) else None
        labels = labels_as_written(row.get("ov_labels"))
        if not labels and labels_given_empty(row.get("ov_labels")):
            from affectgpt.model.prompt import EMPTY_LABELS_AS

            labels = [EMPTY_LABELS_AS]
        if need_target and not description and not labels:
            skipped.append(SkippedRecord(record_id=clip_id, reason="no_target",
                                         detail=f"{where}: neither description nor ov_labels"))
            continue
        features, has_features = _zero_features(vision_dim, audio_dim), False
        if reader is not None and clip_id in reader:
            try:
                loaded = reader.tensors(clip_id)
            except Exception as exc:  # noqa: BLE001 - a damaged pack: quarantine the clip, keep going
                skipped.append(SkippedRecord(record_id=clip_id, reason="unreadable_features", detail=f"{where}: {exc}"))
                continue
            if loaded is not None:
                problem = _check_features(loaded, vision_dim, audio_dim)
                if problem:
                    skipped.append(SkippedRecord(record_id=clip_id, reason="bad_features", detail=f"{where}: {problem}"))
                    continue
                features = {key: loaded[key].float() for key in ("frames", "faces", "audio")}
                has_features = True
        samples.append(CaptionSample(
            clip_id=clip_id, subtitle=_raw_text(row.get("subtitle")), description=description, ov_labels=labels,
            split=split, dataset=_text(row.get("dataset")) or default_dataset, features=features,
            has_features=has_features,
        ))
    return CaptionData(records_path=records_path, samples=samples, skipped=skipped, features_dir=features_dir,
                       split_source=split_source)


def corpus_texts(samples: Sequence[CaptionSample]) -> list[str]:
    """Text an in-process tokenizer is trained on: subtitles, descriptions, label sentences."""
    texts = []
    for sample in samples:
        texts += [sample.subtitle, sample.description or "", ", ".join(sample.ov_labels)]
    return [text for text in texts if text]


def stack_features(samples: Sequence[CaptionSample]) -> dict[str, torch.Tensor]:
    import torch

    """Per-clip features [T, D] -> batch [B, T, D]; clips with other T are resampled to N_STEPS."""
    batch = {}
    for key in ("frames", "faces", "audio"):
        tensors = []
        for sample in samples:
            tensor = sample.features[key]
            if tensor.shape[0] != N_STEPS:
                index = torch.linspace(0, tensor.shape[0] - 1, N_STEPS).round().long()
                tensor = tensor[index]
            tensors.append(tensor)
        batch[key] = torch.stack(tensors)
    return batch
