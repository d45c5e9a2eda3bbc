"""What a predictions file answered: the `<name>.source.json` sidecar `affectgpt infer` writes
beside `<name>.jsonl` (data folder, records file, split(s), clip ids).

The writer (`affectgpt.train.infer`) and the reader (the bench's `local` row,
`affectgpt.bench.datasets.load_local_answered`) share this one module, so the file's name and
fields have one owner and inference and scoring import it instead of each other.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

SOURCE_SUFFIX = ".source.json"


def source_path(predictions_path: str | Path) -> Path:
    """The sidecar naming what a predictions file answered: `preds/local.jsonl` -> `preds/local.source.json`."""
    path = Path(predictions_path)
    return path.with_name(path.name.removesuffix(".jsonl") + SOURCE_SUFFIX)


def write_source(predictions_path: Path, data_dir: Path, records_path: Path, splits: Sequence[str] | None,
                 clip_ids: Sequence[str]) -> Path:
    """Record the data, records file, split(s) and clips a predictions file answers; the clip
    ids let `bench` check agreement even when the records were a temporary copy."""
    sidecar = source_path(predictions_path)
    payload = {"data": str(data_dir.resolve()), "records": str(records_path.resolve()),
               "splits": sorted(splits) if splits else None, "n_clips": len(clip_ids),
               "predictions": predictions_path.name, "clip_ids": list(clip_ids)}
    tmp = sidecar.with_suffix(".tmp")
    tmp.write_text(json.dumps(payload, indent=2) + "\n")
    tmp.replace(sidecar)
    return sidecar


def read_source(predictions_dir: str | Path | None, name: str) -> dict[str, Any] | None:
    """The sidecar of `<predictions_dir>/<name>.jsonl`, or None when there is none (older
    prediction files have none). Raises ValueError (with the file named) when it is unreadable."""
    if predictions_dir is None:
        return None
    sidecar = Path(predictions_dir) / f"{name}{SOURCE_SUFFIX}"
    if not sidecar.is_file():
        return None
    try:
        return json.loads(sidecar.read_text())
    except (OSError, ValueError) as exc:
        raise ValueError(f"{sidecar}: unreadable ({exc}); rerun `affectgpt infer`") from None
