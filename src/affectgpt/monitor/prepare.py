"""Sort the columns of a reference and a current batch into checks the report can run, and list
every column it cannot use with the reason (missing on one side, only NaN, wrong type, vectors of
another size) so a report is never silently narrower than the analyst expects.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from pydantic import BaseModel

from affectgpt.monitor.config import MonitoringConfig
from affectgpt.monitor.inputs import DriftInputError


class SkippedColumn(BaseModel):
    column: str
    reason: str
    detail: str = ""


@dataclass
class PreparedBatches:
    """Columns ready for Evidently (scalars and text) plus embedding matrices, by group."""

    reference: pd.DataFrame
    current: pd.DataFrame
    numeric: list[str] = field(default_factory=list)
    categorical: list[str] = field(default_factory=list)
    text: list[str] = field(default_factory=list)
    group_of: dict[str, str] = field(default_factory=dict)
    source_of: dict[str, str] = field(default_factory=dict)
    embeddings: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)
    skipped: list[SkippedColumn] = field(default_factory=list)
    # Columns are collected here and framed once (inserting hundreds one by one fragments a frame).
    ref_cols: dict[str, pd.Series] = field(default_factory=dict)
    cur_cols: dict[str, pd.Series] = field(default_factory=dict)


def _is_listlike(value: object) -> bool:
    return isinstance(value, (list, tuple, np.ndarray))


def _first_value(series: pd.Series) -> object:
    if series.dtype != object:  # scalars only: pandas finds it without a Python call per row
        present = series.notna().to_numpy()
        return series.iloc[int(present.argmax())] if present.any() else None
    return next((v for v in series if _is_listlike(v) or not pd.isna(v)), None)


def _all_missing(series: pd.Series) -> bool:
    if series.dtype != object:
        return bool(series.isna().all())
    return all((not _is_listlike(v)) and pd.isna(v) for v in series)


def check_same_model(reference: pd.DataFrame, current: pd.DataFrame, model_column: str) -> None:
    """A reference built for another model makes prediction drift meaningless: refuse it."""
    if model_column not in reference.columns or model_column not in current.columns:
        return
    ref_models = sorted(set(reference[model_column].dropna().astype(str)))
    cur_models = sorted(set(current[model_column].dropna().astype(str)))
    if ref_models and cur_models and not set(cur_models) <= set(ref_models):
        raise DriftInputError(
            f"the reference was produced by model {ref_models} but the current batch by {cur_models} "
            f"(column '{model_column}'); compare against the reference set of the model that scored the "
            "batch (the champion's training set), or drop the column to compare anyway"
        )


def _embedding_matrix(series: pd.Series, column: str, side: str) -> tuple[np.ndarray | None, str | None]:
    """Stack a vector column; (None, reason detail) when rows disagree on the vector size."""
    vectors = [np.asarray(v, dtype=np.float64).ravel() for v in series if _is_listlike(v)]
    if not vectors:
        return None, f"{side} has no vectors in '{column}'"
    sizes = sorted({v.size for v in vectors})
    if len(sizes) > 1:
        return None, f"{side} rows of '{column}' hold vectors of sizes {sizes[:5]}"
    return np.vstack(vectors), None


def prepare_batches(reference: pd.DataFrame, current: pd.DataFrame, config: MonitoringConfig,
                    reference_name: str = "reference", current_name: str = "current") -> PreparedBatches:
    """Validate both batches and sort their columns into checks (see module docstring)."""
    for name, frame in ((reference_name, reference), (current_name, current)):
        if frame.empty:
            raise DriftInputError(f"{name}: the batch has no rows; nothing to compare (check the time window "
                                  "or the upstream step that wrote it)")
    check_same_model(reference, current, config.model_column)

    groups = config.columns
    prepared = PreparedBatches(reference=pd.DataFrame(index=reference.index),
                               current=pd.DataFrame(index=current.index))
    configured = {column: group for group in ("metadata", "embeddings", "text", "predictions")
                  for column in getattr(groups, group)}
    ignored = set(groups.ignore) | {config.model_column}
    for column in sorted(set(reference.columns) | set(current.columns)):
        if column not in configured and column not in ignored:
            prepared.skipped.append(SkippedColumn(
                column=column, reason="not_configured",
                detail="not listed in configs/monitoring.yaml columns; add it to a group or to ignore"))

    for column, group in configured.items():
        in_ref, in_cur = column in reference.columns, column in current.columns
        if not in_ref and not in_cur:
            prepared.skipped.append(SkippedColumn(
                column=column, reason="absent_in_both",
                detail=f"neither {reference_name} nor {current_name} has column '{column}'"))
            continue
        if in_ref != in_cur:
            side = current_name if in_ref else reference_name
            prepared.skipped.append(SkippedColumn(
                column=column, reason="missing_from_" + ("current" if in_ref else "reference"),
                detail=f"{side} has no column '{column}' (the other batch has it)"))
            continue
        ref_col, cur_col = reference[column], current[column]
        empty_sides = [name for name, col in ((reference_name, ref_col), (current_name, cur_col)) if _all_missing(col)]
        if empty_sides:
            prepared.skipped.append(SkippedColumn(column=column, reason="all_missing",
                                                  detail=f"only null values in {', '.join(empty_sides)}"))
            continue
        if group == "embeddings":
            _add_embedding(prepared, column, ref_col, cur_col, reference_name, current_name)
        elif group == "text":
            _add_text(prepared, column, ref_col, cur_col)
        else:
            _add_scalar(prepared, column, group, ref_col, cur_col)
    prepared.reference = pd.DataFrame(prepared.ref_cols, index=reference.index)
    prepared.current = pd.DataFrame(prepared.cur_cols, index=current.index)
    return prepared


def _add_embedding(prepared: PreparedBatches, column: str, ref_col: pd.Series, cur_col: pd.Series,
                   reference_name: str, current_name: str) -> None:
    if not _is_listlike(_first_value(ref_col)) or not _is_listlike(_first_value(cur_col)):
        prepared.skipped.append(SkippedColumn(column=column, reason="not_a_vector",
                                              detail="embedding columns must hold one list/array per row"))
        return
    ref_matrix, ref_problem = _embedding_matrix(ref_col, column, reference_name)
    cur_matrix, cur_problem = _embedding_matrix(cur_col, column, current_name)
    if ref_problem or cur_problem:
        prepared.skipped.append(SkippedColumn(column=column, reason="ragged_embedding",
                                              detail="; ".join(p for p in (ref_problem, cur_problem) if p)))
        return
    assert ref_matrix is not None and cur_matrix is not None
    if ref_matrix.shape[1] != cur_matrix.shape[1]:
        prepared.skipped.append(SkippedColumn(
            column=column, reason="embedding_size_mismatch",
            detail=f"{reference_name} vectors are {ref_matrix.shape[1]}-d, {current_name} {cur_matrix.shape[1]}-d "
                   "(another encoder?); re-extract one side with the same encoder"))
        return
    prepared.embeddings[column] = (ref_matrix, cur_matrix)
    prepared.group_of[column] = "embeddings"


def _add_text(prepared: PreparedBatches, column: str, ref_col: pd.Series, cur_col: pd.Series) -> None:
    sample = _first_value(ref_col)
    if not isinstance(sample, str):
        prepared.skipped.append(SkippedColumn(column=column, reason="not_text",
                                              detail=f"holds {type(sample).__name__} values, expected strings"))
        return
    prepared.ref_cols[column] = ref_col.fillna("").astype(str)
    prepared.cur_cols[column] = cur_col.fillna("").astype(str)
    prepared.text.append(column)
    prepared.group_of[column] = "text"
    prepared.source_of[column] = column


def _add_scalar(prepared: PreparedBatches, column: str, group: str, ref_col: pd.Series, cur_col: pd.Series) -> None:
    sample = _first_value(ref_col)
    if _is_listlike(sample):
        if not all(isinstance(item, str) for item in list(sample)[:5]):
            prepared.skipped.append(SkippedColumn(column=column, reason="unsupported_type",
                                                  detail="lists of numbers belong in the embeddings group"))
            return
        # A label list drifts through its first (primary) label and its length.
        top, count = f"{column}.top", f"{column}.count"
        for target, source in ((prepared.ref_cols, ref_col), (prepared.cur_cols, cur_col)):
            target[top] = source.map(lambda v: str(v[0]) if _is_listlike(v) and len(v) else "<none>")
            target[count] = source.map(lambda v: float(len(v)) if _is_listlike(v) else 0.0)
        prepared.categorical.append(top)
        prepared.numeric.append(count)
        for derived in (top, count):
            prepared.group_of[derived] = group
            prepared.source_of[derived] = column
        return
    if pd.api.types.is_bool_dtype(ref_col) or not pd.api.types.is_numeric_dtype(ref_col) \
            or not pd.api.types.is_numeric_dtype(cur_col):
        prepared.ref_cols[column] = ref_col.astype("string").fillna("<null>").astype(str)
        prepared.cur_cols[column] = cur_col.astype("string").fillna("<null>").astype(str)
        prepared.categorical.append(column)
    else:
        prepared.ref_cols[column] = ref_col.astype(float)
        prepared.cur_cols[column] = cur_col.astype(float)
        prepared.numeric.append(column)
    prepared.group_of[column] = group
    prepared.source_of[column] = column
