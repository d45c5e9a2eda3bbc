"""Sort the columns of a reference and a current batch into checks the report can run, and list
every column it cannot use with the reason (missing on one side, only NaN or +-inf, wrong type,
vectors of another size) so a report is never silently narrower than the analyst expects.

Values that say nothing about the distribution are left out of it and counted instead: +-inf is
treated as NaN; a clip without a usable prediction (no answer, or an output no label could be read
from) is a rate of its own (`predictions.missing_share`), not a category of the label
distribution; a garbled or empty text is left out of the text tests and the garbled share is a
check of its own (`<column>.garbled_share`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from pydantic import BaseModel

from affectgpt.formatting import percent
from affectgpt.monitor.config import MonitoringConfig
from affectgpt.monitor.inputs import DriftInputError
from affectgpt.monitor.text_quality import garbled

MISSING_PREDICTIONS = "predictions.missing_share"


class SkippedColumn(BaseModel):
    column: str
    reason: str
    detail: str = ""


@dataclass
class RateInput:
    """Rows of each batch holding no usable value, out of the rows counted: checked as a rise of
    the share (affectgpt.monitor.stats.rate_rise), never as a category of a distribution."""

    column: str
    source_column: str
    group: str
    kind: str  # "missing_rate" | "garbled_rate"
    reference_count: int
    reference_total: int
    current_count: int
    current_total: int
    max_increase: float
    detail: str


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
    rates: list[RateInput] = field(default_factory=list)
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
    """Only null values (and +-inf, which is treated as NaN everywhere)."""
    if pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series):
        return not bool(np.isfinite(series.to_numpy(dtype=np.float64, na_value=np.nan)).any())
    if series.dtype != object:
        return bool(series.isna().all())
    return all((not _is_listlike(v)) and pd.isna(v) for v in series)


def _finite(series: pd.Series) -> pd.Series:
    """The column as floats with +-inf as NaN: both are left out of a test the same way."""
    return series.astype(float).replace([np.inf, -np.inf], np.nan)


def _usable(value: object) -> bool:
    """A value that says something: not null, not an empty list, not blank text."""
    if _is_listlike(value):
        return len(value) > 0
    if isinstance(value, str):
        return bool(value.strip())
    return not pd.isna(value)


def _answered(frame: pd.DataFrame, columns: list[str]) -> np.ndarray:
    """Rows with a usable value in any of the prediction columns."""
    answered = np.zeros(len(frame), dtype=bool)
    for column in columns:
        answered |= frame[column].map(_usable).to_numpy(dtype=bool)
    return answered


def _share(count: int, total: int) -> str:
    return f"{count} of {total} ({percent(count / total if total else 0.0)} %)"


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
                                                  detail=f"only null (or +-inf) values in {', '.join(empty_sides)}"))
            continue
        if group == "embeddings":
            _add_embedding(prepared, column, ref_col, cur_col, reference_name, current_name)
        elif group == "text":
            _add_text(prepared, column, ref_col, cur_col, config)
        else:
            _add_scalar(prepared, column, group, ref_col, cur_col)
    _add_missing_predictions(prepared, reference, current, config)
    prepared.reference = pd.DataFrame(prepared.ref_cols, index=reference.index)
    prepared.current = pd.DataFrame(prepared.cur_cols, index=current.index)
    return prepared


def _add_missing_predictions(prepared: PreparedBatches, reference: pd.DataFrame, current: pd.DataFrame,
                             config: MonitoringConfig) -> None:
    """The share of clips without a usable prediction, and the label checks on answered clips only
    (a label check with too few answers on a side is skipped, saying so)."""
    columns = [c for c in config.columns.predictions if c in reference.columns and c in current.columns]
    if not columns:
        return
    ref_answered, cur_answered = _answered(reference, columns), _answered(current, columns)
    n_ref, n_cur = int(ref_answered.sum()), int(cur_answered.sum())
    prepared.rates.append(RateInput(
        column=MISSING_PREDICTIONS, source_column=", ".join(columns), group="predictions", kind="missing_rate",
        reference_count=len(reference) - n_ref, reference_total=len(reference),
        current_count=len(current) - n_cur, current_total=len(current),
        max_increase=config.missing_predictions.max_increase,
        detail=f"clips without a prediction: {_share(len(reference) - n_ref, len(reference))} in the reference, "
               f"{_share(len(current) - n_cur, len(current))} in the current batch",
    ))
    minimum = config.retrain.min_test_rows
    for check in [c for c in prepared.categorical + prepared.numeric if prepared.group_of.get(c) == "predictions"]:
        n_ref_values = int(prepared.ref_cols[check].notna().sum())
        n_cur_values = int(prepared.cur_cols[check].notna().sum())
        if min(n_ref_values, n_cur_values) >= minimum:
            continue
        for kind in (prepared.categorical, prepared.numeric):
            if check in kind:
                kind.remove(check)
        del prepared.ref_cols[check], prepared.cur_cols[check]
        prepared.skipped.append(SkippedColumn(
            column=check, reason="too_few_answered",
            detail=f"{n_ref_values} reference and {n_cur_values} current clips have a value (min_test_rows "
                   f"{minimum}); the share of clips without a prediction is checked as {MISSING_PREDICTIONS}"))


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


def _readable(series: pd.Series) -> tuple[pd.Series, int, int]:
    """The texts to compare (None for an empty or garbled one), the number present and the
    number of those garbled."""
    present = series.map(lambda v: isinstance(v, str) and bool(v.strip()))
    is_garbled = series.map(lambda v: isinstance(v, str) and bool(v.strip()) and garbled(v)).astype(bool)
    kept = series.where(present & ~is_garbled, None).astype(object)
    return kept, int(present.sum()), int(is_garbled.sum())


def _add_text(prepared: PreparedBatches, column: str, ref_col: pd.Series, cur_col: pd.Series,
              config: MonitoringConfig) -> None:
    sample = _first_value(ref_col)
    if not isinstance(sample, str):
        prepared.skipped.append(SkippedColumn(column=column, reason="not_text",
                                              detail=f"holds {type(sample).__name__} values, expected strings"))
        return
    ref_text, ref_present, ref_garbled = _readable(ref_col)
    cur_text, cur_present, cur_garbled = _readable(cur_col)
    empty = f"; no text in {len(ref_col) - ref_present} reference and {len(cur_col) - cur_present} current rows"
    if ref_present and cur_present:
        prepared.rates.append(RateInput(
            column=f"{column}.garbled_share", source_column=column, group="text", kind="garbled_rate",
            reference_count=ref_garbled, reference_total=ref_present, current_count=cur_garbled,
            current_total=cur_present, max_increase=config.text.garbled_max_increase,
            detail=f"garbled {column}: {_share(ref_garbled, ref_present)} reference texts, "
                   f"{_share(cur_garbled, cur_present)} current texts; left out of the text tests"
                   + (empty if ref_present < len(ref_col) or cur_present < len(cur_col) else ""),
        ))
    minimum = config.retrain.min_test_rows
    n_ref, n_cur = ref_present - ref_garbled, cur_present - cur_garbled
    if min(n_ref, n_cur) < minimum:
        prepared.skipped.append(SkippedColumn(
            column=column, reason="too_few_readable",
            detail=f"{n_ref} reference and {n_cur} current texts are neither empty nor garbled (min_test_rows "
                   f"{minimum})"))
        return
    prepared.ref_cols[column] = ref_text
    prepared.cur_cols[column] = cur_text
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
        # A label list drifts through its first (primary) label and its length; a clip without
        # labels has neither (it counts in predictions.missing_share instead).
        top, count = f"{column}.top", f"{column}.count"
        for target, source in ((prepared.ref_cols, ref_col), (prepared.cur_cols, cur_col)):
            target[top] = source.map(lambda v: str(v[0]) if _is_listlike(v) and len(v) else None).astype(object)
            target[count] = source.map(lambda v: float(len(v)) if _is_listlike(v) and len(v) else np.nan)
        prepared.categorical.append(top)
        prepared.numeric.append(count)
        for derived in (top, count):
            prepared.group_of[derived] = group
            prepared.source_of[derived] = column
        return
    if pd.api.types.is_bool_dtype(ref_col) or not pd.api.types.is_numeric_dtype(ref_col) \
            or not pd.api.types.is_numeric_dtype(cur_col):
        if group == "predictions":  # answered clips only: no answer is not a label
            prepared.ref_cols[column] = ref_col.map(lambda v: str(v) if _usable(v) else None).astype(object)
            prepared.cur_cols[column] = cur_col.map(lambda v: str(v) if _usable(v) else None).astype(object)
        else:  # a missing clip fact is a value of its own (an unknown language is worth seeing)
            prepared.ref_cols[column] = ref_col.astype("string").fillna("<null>").astype(str)
            prepared.cur_cols[column] = cur_col.astype("string").fillna("<null>").astype(str)
        prepared.categorical.append(column)
    else:
        prepared.ref_cols[column] = _finite(ref_col)
        prepared.cur_cols[column] = _finite(cur_col)
        prepared.numeric.append(column)
    prepared.group_of[column] = group
    prepared.source_of[column] = column
