"""Per-clip scores: the few small integers each clip contributes to its set's metric, kept in
report.json so an interval or a paired comparison can be recomputed from the report alone.

No MER-UniBench metric is a mean of per-clip values (OV is F over per-wheel precision and
recall means, HIT a mean over wheels of per-wheel means, sentiment a weighted F1), so a clip is
stored as the integers its metric is built from, and `metric_from_sums` rebuilds the metric
from column sums: a bootstrap resample is then one matrix product (`affectgpt.bench.bootstrap`).

    clips = clip_scores("ov", samples, mode, level=1, wheels="mer2025")
    metric_from_sums("ov", mode, additive_columns(clips, mode).sum(axis=0, keepdims=True))  # == the score

Rows, by task (all integers, so the report stays small and exact):
- ov: per wheel |G∩P|, |P|, |G| (15 numbers: the 5 overlaps, then the 5 |P|, then the 5 |G|)
- hit: per wheel |G∩P|, or -1 where the clip's ground truth maps to nothing on that wheel
- sentiment: y_true (1 positive, 0 negative, -1 dropped: valence 0), y_pred (1 positive)
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from affectgpt.bench.mode import ScorerMode

ENCODINGS = {"ov": "ov-overlap-sizes-v1", "hit": "hit-overlap-v1", "sentiment": "sentiment-true-pred-v1"}


@dataclass
class ClipScores:
    """One set's per-clip rows (see the module docstring), in gold order."""

    task: str
    ids: list[str]
    rows: np.ndarray  # (n, k) int64

    def to_json(self) -> dict[str, Any]:
        return {"task": self.task, "encoding": ENCODINGS[self.task], "ids": list(self.ids),
                "rows": self.rows.tolist()}

    @classmethod
    def from_json(cls, payload: dict[str, Any]) -> ClipScores:
        task = str(payload.get("task"))
        if ENCODINGS.get(task) != payload.get("encoding"):
            raise ValueError(f"per-clip scores encoded as {payload.get('encoding')!r} for task {task!r}; "
                             f"this version reads {ENCODINGS.get(task)!r}: re-score the predictions")
        width = {"ov": 15, "hit": 5, "sentiment": 2}[task]
        rows = np.asarray(payload.get("rows") or [], dtype=np.int64).reshape(-1, width)
        ids = [str(clip) for clip in payload.get("ids") or []]
        if len(ids) != len(rows):
            raise ValueError(f"per-clip scores list {len(ids)} clip ids but {len(rows)} rows")
        return cls(task, ids, rows)

    def n_counted(self) -> int:
        """Clips the metric counts (a set's `n_scored`): OV with some gold word on a wheel, HIT
        with a wheel the ground truth maps onto, sentiment with a non-zero valence."""
        if self.task == "ov":
            return int((self.rows[:, 10:] > 0).any(axis=1).sum())
        if self.task == "hit":
            return int((self.rows >= 0).any(axis=1).sum())
        return int((self.rows[:, 0] >= 0).sum())

    def aligned(self, other: ClipScores) -> tuple[ClipScores, ClipScores]:
        """Both sides restricted to the clips both answered, in this side's order (the pairing
        of a paired bootstrap)."""
        position = {clip: index for index, clip in enumerate(other.ids)}
        common = [index for index, clip in enumerate(self.ids) if clip in position]
        ids = [self.ids[index] for index in common]
        return (ClipScores(self.task, ids, self.rows[common]),
                ClipScores(other.task, ids, other.rows[[position[clip] for clip in ids]]))


def clip_scores(task: str, samples: list[dict[str, Any]], mode: ScorerMode, level: int = 1,
                wheels: str | None = None) -> ClipScores:
    """Per-clip rows of `samples` ({name, gt, pred}, as `score_task` takes them), parsed exactly
    as the scorer parses them."""
    ids = [str(sample["name"]) for sample in samples]
    if task == "sentiment":
        return ClipScores(task, ids, _sentiment_rows(samples, mode))
    from affectgpt.bench.metrics import resolve_wheels
    from affectgpt.bench.ring_bits import bit_tables

    version = resolve_wheels(wheels, mode).version
    table, _ = bit_tables(version, level)
    if task == "ov":
        from affectgpt.bench.ov_masks import mask_rows

        gt = mask_rows([s["gt"] for s in samples], mode, table, (version, level))
        pred = mask_rows([s["pred"] for s in samples], mode, table, (version, level))
        rows = np.hstack([np.bitwise_count(gt & pred), np.bitwise_count(pred), np.bitwise_count(gt)])
        return ClipScores(task, ids, rows.astype(np.int64).reshape(len(samples), 15))
    if task == "hit":
        from affectgpt.bench.ring_bits import masks

        rows = np.full((len(samples), 5), -1, dtype=np.int64)
        for index, sample in enumerate(samples):
            gt_masks = masks(mode.parse(sample["gt"]), table)
            pred_masks = masks(mode.parse(sample["pred"]), table)
            for w, (g, p) in enumerate(zip(gt_masks, pred_masks, strict=True)):
                if g:
                    rows[index, w] = (g & p).bit_count()
        return ClipScores(task, ids, rows)
    raise ValueError(f"unknown task {task!r}")


def _sentiment_rows(samples: list[dict[str, Any]], mode: ScorerMode) -> np.ndarray:
    from affectgpt.bench.metrics import as_valence

    rows = np.zeros((len(samples), 2), dtype=np.int64)
    for index, sample in enumerate(samples):
        valence = as_valence(sample["gt"], str(sample["name"]))
        dropped = valence == 0 or (mode.drops_nan_valence and math.isnan(valence))
        rows[index] = (-1 if dropped else int(valence > 0), int(mode.is_positive(sample["pred"])))
    return rows


def additive_columns(clips: ClipScores, mode: ScorerMode) -> np.ndarray:
    """(n, k) floats whose column sums are all the metric needs (`metric_from_sums`)."""
    rows = clips.rows
    if clips.task == "ov":
        common, pred, gold = rows[:, :5], rows[:, 5:10], rows[:, 10:]
        scored = gold > 0
        answered = scored & (pred > 0)
        precision = np.where(answered, common / np.maximum(pred, 1), 0.0)
        recall = np.where(answered, common / np.maximum(gold, 1), 0.0)
        return np.hstack([scored, precision, recall]).astype(np.float64)
    if clips.task == "hit":
        scored = rows >= 0
        hits = np.zeros(rows.shape, dtype=np.float64)
        for overlap in np.unique(rows[scored]):  # the mode's own rule, once per distinct overlap
            hits[rows == overlap] = mode.hit(int(overlap))
        return np.hstack([scored, hits]).astype(np.float64)
    y_true, y_pred = rows[:, 0], rows[:, 1]
    columns = [(y_true == 1) & (y_pred == 1), (y_true == 0) & (y_pred == 1),
               (y_true == 1) & (y_pred == 0), (y_true == 0) & (y_pred == 0)]
    return np.stack(columns, axis=1).astype(np.float64)


def _mean_over_wheels(per_wheel: np.ndarray, counts: np.ndarray, mode: ScorerMode) -> np.ndarray:
    """The scorer's mean over the 5 wheels, per row: official keeps unscored wheels (NaN)."""
    if mode.averages_unscored_wheels:
        return per_wheel.mean(axis=1)
    used = counts > 0
    n_used = used.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        total = np.where(used, per_wheel, 0.0).sum(axis=1)
        return np.where(n_used > 0, total / np.maximum(n_used, 1), np.nan)


def metric_from_sums(task: str, mode: ScorerMode, sums: np.ndarray) -> np.ndarray:
    """The set's metric for each row of column sums (B, k) -> (B,): the scorer's arithmetic,
    vectorised (NaN where the scorer gives NaN)."""
    sums = np.atleast_2d(sums)
    with np.errstate(invalid="ignore", divide="ignore"):
        if task == "ov":
            counts = sums[:, :5]
            precision = np.where(counts > 0, sums[:, 5:10] / counts, np.nan)
            recall = np.where(counts > 0, sums[:, 10:] / counts, np.nan)
            total = precision + recall
            f = np.where(total == 0, mode.f_when_no_overlap, 2 * precision * recall / total)
            return _mean_over_wheels(f, counts, mode)
        if task == "hit":
            counts = sums[:, :5]
            return _mean_over_wheels(np.where(counts > 0, sums[:, 5:] / counts, np.nan), counts, mode)
        tp, fp, fn, tn = sums.T
        positives, negatives = tp + fn, fp + tn
        f1_positive = np.where(2 * tp + fp + fn > 0, 2 * tp / (2 * tp + fp + fn), 0.0)
        f1_negative = np.where(2 * tn + fp + fn > 0, 2 * tn / (2 * tn + fp + fn), 0.0)
        total = positives + negatives
        return np.where(total > 0, (positives * f1_positive + negatives * f1_negative) / total, np.nan)
