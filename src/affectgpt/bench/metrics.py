"""MER-UniBench metrics: fine-grained OV F-score, HIT rate for basic emotions, sentiment F1.

`official` mode computes exactly what the AffectGPT scorer computes, quirks included (NaN where
its arithmetic gives NaN); `corrected` mode fixes those quirks (see docs/bench.md). Both modes
share one code path and differ only where a quirk is fixed, so the two can be compared: every
public function goes through `score_task`, which resolves the mode once
(`affectgpt.bench.mode.scorer_mode`), and the code below it asks the resolved `ScorerMode` for
its rules.

    from affectgpt.bench.metrics import score_ov
    result = score_ov([{"name": "a", "gt": "['happy']", "pred": "['joyful', 'sad']"}])
    result.score, result.per_wheel["wheel1"].f

Ring words are held as bits of one int per wheel, so a sample's set intersection is an AND
and its size a popcount: 100k samples score in well under a second.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from affectgpt.bench.mode import OFFICIAL, ScorerMode, ScorerModeName, scorer_mode
from affectgpt.bench.ring_bits import FIELD_MASK, SHIFTS, bit_tables, masks, packed, words
from affectgpt.bench.wheels import WHEEL_NAMES, EmotionWheels, load_wheels
from affectgpt.jsonline import nan_to_none

NAN = float("nan")
TASKS: tuple[str, ...] = ("ov", "hit", "sentiment")
PRIMARY_METRIC = {"ov": "fscore", "hit": "hit_rate", "sentiment": "weighted_f1"}


SampleSink = Callable[[dict[str, Any]], None]
"""Receives each sample's details as it is scored (e.g. a file writer), so details of 100k
samples never sit in memory at once."""


class Sample(NamedTuple):
    """One scored item: ground truth and prediction as given (list, list-like string or number)."""

    name: str
    gt: Any
    pred: Any


class Unscored(NamedTuple):
    """A sample the metric leaves out (a ground truth no wheel word maps to, a neutral valence),
    by its position in the input: the caller, who knows the file and line, quarantines it with
    this reason, so nothing leaves the count unexplained."""

    position: int
    reason: str
    detail: str


def _unmapped(position: int, gt_labels: list[str], table_version: str, level: int) -> Unscored:
    """Why a label sample was not scored: no ground-truth label at all, or none on the wheels."""
    if not gt_labels:
        return Unscored(position, "no_label", "the ground truth has no label")
    return Unscored(position, "unmapped_label", f"no label maps to the emotion wheel: {gt_labels} "
                                                f"({table_version} word forms, level {level})")


def resolve_wheels(wheels: EmotionWheels | str | None, mode: ScorerMode) -> EmotionWheels:
    if isinstance(wheels, EmotionWheels):
        return wheels
    return load_wheels(wheels or mode.wheels_version)


@dataclass
class WheelResult:
    """Per-wheel numbers; fields that do not apply to the task stay None."""

    n_scored: int = 0
    precision: float | None = None
    recall: float | None = None
    f: float | None = None
    hit: float | None = None
    mscore: float | None = None

    def to_json(self) -> dict[str, Any]:
        return {k: nan_to_none(v) for k, v in self.__dict__.items() if v is not None}


@dataclass
class MetricResult:
    task: str
    mode: str
    score: float
    metric: str
    level: int | None = None
    wheels: str | None = None
    n_samples: int = 0
    n_scored: int = 0
    per_wheel: dict[str, WheelResult] = field(default_factory=dict)
    secondary: dict[str, float] = field(default_factory=dict)
    samples: list[dict[str, Any]] = field(default_factory=list)
    unscored: list[Unscored] = field(default_factory=list)
    """The n_samples - n_scored samples left out, each with its reason (not in `to_json`: the
    caller turns them into quarantine records naming the file and line)."""

    def to_json(self, include_samples: bool = True) -> dict[str, Any]:
        """JSON-ready dict; NaN becomes null."""
        payload: dict[str, Any] = {
            "task": self.task,
            "mode": self.mode,
            "metric": self.metric,
            "score": nan_to_none(self.score),
            "level": self.level,
            "wheels": self.wheels,
            "n_samples": self.n_samples,
            "n_scored": self.n_scored,
            "per_wheel": {name: wheel.to_json() for name, wheel in self.per_wheel.items()},
            "secondary": nan_to_none(self.secondary),
        }
        if include_samples:
            payload["samples"] = nan_to_none(self.samples)
        return payload


def as_sample(item: Any, index: int = 0) -> Sample:
    if type(item) is dict and "gt" in item and "pred" in item:  # the common case, kept cheap
        return Sample(str(item.get("name", index)), item["gt"], item["pred"])
    if isinstance(item, Sample):
        return item
    if isinstance(item, Mapping):
        missing = [key for key in ("gt", "pred") if key not in item]
        if missing:
            raise ValueError(f"sample {index}: missing field {missing[0]!r}")
        return Sample(str(item.get("name", index)), item["gt"], item["pred"])
    if isinstance(item, (tuple, list)) and len(item) == 3:
        return Sample(str(item[0]), item[1], item[2])
    raise TypeError(f"sample {index}: expected a mapping with name/gt/pred, got {type(item).__name__}")


def _detail_target(keep_samples: bool, sink: SampleSink | None,
                   details: list[dict[str, Any]]) -> tuple[bool, SampleSink]:
    """Whether to build per-sample details, and where they go: a sink streams them out (and
    nothing is kept), otherwise they are collected in `details` when asked for."""
    if sink is not None:
        return True, sink
    return keep_samples, details.append


def _mean(values_sum: float, count: int) -> float:
    return values_sum / count if count else NAN


# --- fine-grained OV --------------------------------------------------------------------

def score_ov(samples: Iterable[Any], mode: ScorerMode | ScorerModeName | str = OFFICIAL, level: int = 1,
             wheels: EmotionWheels | str | None = None, keep_samples: bool = True,
             sample_sink: SampleSink | None = None) -> MetricResult:
    """Fine-grained (OV-MERD+) score: per wheel, precision and recall averaged over samples with
    a non-empty mapped ground truth, F_w = 2PR/(P+R), score = mean of F_w over the 5 wheels."""
    return score_task("ov", samples, mode, level, wheels, keep_samples, sample_sink)


def _score_ov(
    samples: Iterable[Any],
    mode: ScorerMode,
    level: int = 1,
    wheels: EmotionWheels | str | None = None,
    keep_samples: bool = True,
    sample_sink: SampleSink | None = None,
) -> MetricResult:
    table_version = resolve_wheels(wheels, mode).version
    table, ring_words = bit_tables(table_version, level)
    details: list[dict[str, Any]] = []
    keep, emit = _detail_target(keep_samples, sample_sink, details)
    if keep:
        sums, gt_of = _ov_sums_with_details(samples, mode.parse, table, ring_words, emit)
    else:
        sums, gt_of = _ov_sums_vectorized(samples, mode, table, (table_version, level))
    unscored = [_unmapped(row, mode.parse(gt_of(row)), table_version, level) for row in sums.unscored_rows]
    return _ov_result(sums, mode, level, table_version, details, unscored)


def score_ov_columns(gt, pred, level: int = 1, wheels: EmotionWheels | str | None = None) -> MetricResult:
    """Official-mode OV score of two Arrow columns (strings or lists of strings, no nulls), as
    read by `affectgpt.bench.score_input.read_ov_columns`: no Python object per sample."""
    import numpy as np

    from affectgpt.bench.ov_masks import official_mask_rows_from_column

    table_version = resolve_wheels(wheels, OFFICIAL).version
    table, _ = bit_tables(table_version, level)
    g = official_mask_rows_from_column(gt, table, (table_version, level))
    p = official_mask_rows_from_column(pred, table, (table_version, level))
    sums = _ov_sums_from_masks(np.ascontiguousarray(g), np.ascontiguousarray(p))
    unscored = [_unmapped(row, OFFICIAL.parse(gt[row].as_py()), table_version, level) for row in sums.unscored_rows]
    return _ov_result(sums, OFFICIAL, level, table_version, [], unscored)


def _ov_result(sums: _OvSums, mode: ScorerMode, level: int, table_version: str,
               details: list[dict[str, Any]], unscored: list[Unscored]) -> MetricResult:
    precision_sum, recall_sum, counts, n_samples, n_scored, _ = sums
    per_wheel_results: dict[str, WheelResult] = {}
    fs, ps, rs = [], [], []
    for w, name in enumerate(WHEEL_NAMES):
        precision = _mean(precision_sum[w], counts[w])
        recall = _mean(recall_sum[w], counts[w])
        f = mode.f_score(precision, recall)
        per_wheel_results[name] = WheelResult(n_scored=counts[w], precision=precision, recall=recall, f=f)
        if mode.averages_unscored_wheels or counts[w]:
            fs.append(f), ps.append(precision), rs.append(recall)
    return MetricResult(
        task="ov", mode=mode.name, metric=PRIMARY_METRIC["ov"], level=level, wheels=table_version,
        score=_plain_mean(fs), n_samples=n_samples, n_scored=n_scored, per_wheel=per_wheel_results,
        secondary={"precision": _plain_mean(ps), "recall": _plain_mean(rs)}, samples=details,
        unscored=unscored,
    )


class _OvSums(NamedTuple):
    precision_sum: list[float]
    recall_sum: list[float]
    counts: list[int]
    n_samples: int
    n_scored: int
    unscored_rows: list[int]
    """Positions of the samples whose ground truth maps to no wheel word."""


GroundTruthAt = Callable[[int], Any]
"""The ground truth of the sample at a position, as given (to say why it was not scored)."""


def _ov_sums_with_details(samples: Iterable[Any], parse, table: dict[str, int],
                          ring_words: tuple[tuple[str, ...], ...], emit: SampleSink
                          ) -> tuple[_OvSums, GroundTruthAt]:
    """Per-wheel precision/recall sums, one sample at a time, emitting each sample's details."""
    precision_sum = [0.0] * 5
    recall_sum = [0.0] * 5
    counts = [0] * 5
    n_samples = n_scored = 0
    unscored_gt: dict[int, Any] = {}
    for index, item in enumerate(samples):
        sample = as_sample(item, index)
        n_samples += 1
        gt_labels = parse(sample.gt)
        pred_labels = parse(sample.pred)
        gt_packed = packed(gt_labels, table)
        pred_packed = packed(pred_labels, table)
        per_wheel: dict[str, Any] = {}
        scored = False
        for w, shift in enumerate(SHIFTS):
            g = gt_packed >> shift & FIELD_MASK
            if not g:
                per_wheel[WHEEL_NAMES[w]] = None
                continue
            p = pred_packed >> shift & FIELD_MASK
            scored = True
            counts[w] += 1
            if p:
                common = (g & p).bit_count()
                precision, recall = common / p.bit_count(), common / g.bit_count()
            else:
                precision = recall = 0.0
            precision_sum[w] += precision
            recall_sum[w] += recall
            per_wheel[WHEEL_NAMES[w]] = {
                "gt": words(g, ring_words[w]), "pred": words(p, ring_words[w]),
                "precision": precision, "recall": recall,
            }
        n_scored += scored
        if not scored:
            unscored_gt[index] = sample.gt
        emit({"name": sample.name, "gt": gt_labels, "pred": pred_labels, "wheels": per_wheel})

    sums = _OvSums(precision_sum, recall_sum, counts, n_samples, n_scored, sorted(unscored_gt))
    return sums, unscored_gt.__getitem__


def _ov_sums_vectorized(samples: Iterable[Any], mode: ScorerMode, table: dict[str, int],
                        table_key: tuple[str, int]) -> tuple[_OvSums, GroundTruthAt]:
    """The same sums without details: the label fields become 5x64-bit ring-word masks (in
    Arrow for the official parse of ASCII fields, else in Python), and the per-wheel
    intersections, popcounts and means run in numpy over all samples at once. Sums are numpy's
    pairwise sums, i.e. what the official `np.mean` computes."""
    from affectgpt.bench.ov_masks import mask_rows as _mask_rows

    items = [as_sample(item, index) for index, item in enumerate(samples)]
    g = _mask_rows([s.gt for s in items], mode, table, table_key)
    p = _mask_rows([s.pred for s in items], mode, table, table_key)
    return _ov_sums_from_masks(g, p), lambda row: items[row].gt


def _ov_sums_from_masks(g, p) -> _OvSums:
    """Per-wheel sums from (n, 5) ground-truth and prediction ring-word masks."""
    import numpy as np

    scored = g != 0
    common = np.bitwise_count(g & p).astype(np.float64)
    p_count = np.bitwise_count(p).astype(np.float64)
    g_count = np.bitwise_count(g).astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = np.where(p_count > 0, common / p_count, 0.0)
        recall = np.where(p_count > 0, common / g_count, 0.0)
    precision_sum, recall_sum, counts = [], [], []
    for w in range(5):
        rows = scored[:, w]
        counts.append(int(rows.sum()))
        precision_sum.append(float(precision[rows, w].sum()))
        recall_sum.append(float(recall[rows, w].sum()))
    any_scored = scored.any(axis=1)
    return _OvSums(precision_sum, recall_sum, counts, len(g), int(any_scored.sum()),
                   np.flatnonzero(~any_scored).tolist())


def _plain_mean(values: list[float]) -> float:
    """np.mean semantics: NaN if empty or if any value is NaN."""
    if not values or any(math.isnan(v) for v in values):
        return NAN
    return sum(values) / len(values)


# --- HIT rate ---------------------------------------------------------------------------

def score_hit(samples: Iterable[Any], mode: ScorerMode | ScorerModeName | str = OFFICIAL, level: int = 1,
              wheels: EmotionWheels | str | None = None, keep_samples: bool = True,
              sample_sink: SampleSink | None = None) -> MetricResult:
    """HIT rate for basic-emotion sets: per wheel, the mean of 1[mapped gt in mapped prediction]
    over samples whose ground truth maps to something (so `neutral` is never scored), averaged
    over the 5 wheels. Official mode counts |G∩P| (the same for a one-word ground truth)."""
    return score_task("hit", samples, mode, level, wheels, keep_samples, sample_sink)


def _score_hit(
    samples: Iterable[Any],
    mode: ScorerMode,
    level: int = 1,
    wheels: EmotionWheels | str | None = None,
    keep_samples: bool = True,
    sample_sink: SampleSink | None = None,
) -> MetricResult:
    table_version = resolve_wheels(wheels, mode).version
    table, ring_words = bit_tables(table_version, level)
    items = [as_sample(item, index) for index, item in enumerate(samples)]
    parse = mode.parse
    parsed = [(s, parse(s.gt), parse(s.pred)) for s in items]
    candidate_masks = [0] * 5  # every ground-truth class of the set, for the secondary M-score
    for _, gt_labels, _ in parsed:
        for w, mask in enumerate(masks(gt_labels, table)):
            candidate_masks[w] |= mask
    hit_sum = [0.0] * 5
    mscore_sum = [0.0] * 5
    counts = [0] * 5
    n_scored = 0
    unscored: list[Unscored] = []
    details: list[dict[str, Any]] = []
    keep, emit = _detail_target(keep_samples, sample_sink, details)
    for position, (sample, gt_labels, pred_labels) in enumerate(parsed):
        gt_masks = masks(gt_labels, table)
        pred_masks = masks(pred_labels, table)
        per_wheel: dict[str, Any] = {}
        scored = False
        for w in range(5):
            g, p = gt_masks[w], pred_masks[w]
            if not g:
                if keep:
                    per_wheel[WHEEL_NAMES[w]] = None
                continue
            scored = True
            counts[w] += 1
            common = (g & p).bit_count()
            hit = mode.hit(common)
            in_candidates = (p & candidate_masks[w]).bit_count()
            mscore = common / in_candidates if in_candidates else 0.0
            hit_sum[w] += hit
            mscore_sum[w] += mscore
            if keep:
                per_wheel[WHEEL_NAMES[w]] = {
                    "gt": words(g, ring_words[w]), "pred": words(p, ring_words[w]), "hit": hit,
                }
        n_scored += scored
        if not scored:
            unscored.append(_unmapped(position, gt_labels, table_version, level))
        if keep:
            emit({"name": sample.name, "gt": gt_labels, "pred": pred_labels, "wheels": per_wheel})
    per_wheel_results: dict[str, WheelResult] = {}
    hits, mscores = [], []
    for w, name in enumerate(WHEEL_NAMES):
        hit = _mean(hit_sum[w], counts[w])
        mscore = _mean(mscore_sum[w], counts[w])
        per_wheel_results[name] = WheelResult(n_scored=counts[w], hit=hit, mscore=mscore)
        if mode.averages_unscored_wheels or counts[w]:
            hits.append(hit), mscores.append(mscore)
    return MetricResult(
        task="hit", mode=mode.name, metric=PRIMARY_METRIC["hit"], level=level, wheels=table_version,
        score=_plain_mean(hits), n_samples=len(items), n_scored=n_scored, per_wheel=per_wheel_results,
        secondary={"mscore": _plain_mean(mscores)}, samples=details, unscored=unscored,
    )


# --- sentiment --------------------------------------------------------------------------

def as_valence(value: Any, name: str = "") -> float:
    """Ground-truth valence as a float; a clear error for anything else."""
    if isinstance(value, bool):
        raise ValueError(f"sample {name!r}: sentiment ground truth must be a number, got {value!r}")
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            pass
    raise ValueError(f"sample {name!r}: sentiment ground truth must be a number, got {value!r}")


def weighted_f1(y_true: list[bool], y_pred: list[bool]) -> float:
    """The official scorer's `f1_score(average="weighted")` (per-class F1 weighted by support);
    NaN when nothing is scored, where scikit-learn would refuse the empty input."""
    if not y_true:
        return NAN
    from sklearn.metrics import f1_score  # imported on use: scoring OV/HIT never needs it

    return float(f1_score(y_true, y_pred, average="weighted", zero_division=0))


def score_sentiment(samples: Iterable[Any], mode: ScorerMode | ScorerModeName | str = OFFICIAL,
                    keep_samples: bool = True, sample_sink: SampleSink | None = None) -> MetricResult:
    """Binary sentiment: samples with ground truth 0 are dropped; y = gt > 0; a prediction is
    positive only if it is "positive"; weighted F1 (primary) and accuracy."""
    return score_task("sentiment", samples, mode, keep_samples=keep_samples, sample_sink=sample_sink)


def _score_sentiment(samples: Iterable[Any], mode: ScorerMode, keep_samples: bool = True,
                     sample_sink: SampleSink | None = None) -> MetricResult:
    y_true: list[bool] = []
    y_pred: list[bool] = []
    details: list[dict[str, Any]] = []
    keep, emit = _detail_target(keep_samples, sample_sink, details)
    n_samples = 0
    unscored: list[Unscored] = []
    for index, item in enumerate(samples):
        sample = as_sample(item, index)
        n_samples += 1
        valence = as_valence(sample.gt, sample.name)
        dropped = valence == 0 or (mode.drops_nan_valence and math.isnan(valence))
        positive = mode.is_positive(sample.pred)
        if not dropped:
            y_true.append(valence > 0)
            y_pred.append(positive)
        elif valence == 0:
            unscored.append(Unscored(index, "neutral_valence", "ground truth valence 0 is neither positive "
                                     "nor negative; the binary metric leaves it out"))
        else:
            unscored.append(Unscored(index, "bad_label", f"ground truth valence {valence} is not a number"))
        if keep:
            emit({
                "name": sample.name, "gt": valence, "pred": sample.pred, "scored": not dropped,
                "y_true": None if dropped else int(valence > 0), "y_pred": int(positive),
            })
    accuracy = sum(t == p for t, p in zip(y_true, y_pred)) / len(y_true) if y_true else NAN
    return MetricResult(
        task="sentiment", mode=mode.name, metric=PRIMARY_METRIC["sentiment"], score=weighted_f1(y_true, y_pred),
        n_samples=n_samples, n_scored=len(y_true), secondary={"accuracy": accuracy}, samples=details,
        unscored=unscored,
    )


def score_task(task: str, samples: Iterable[Any], mode: ScorerMode | ScorerModeName | str = OFFICIAL,
               level: int = 1, wheels: EmotionWheels | str | None = None, keep_samples: bool = True,
               sample_sink: SampleSink | None = None) -> MetricResult:
    """Dispatch on the task name ("ov", "hit", "sentiment"). Per-sample details land in
    `result.samples` with `keep_samples`, or go to `sample_sink` one by one (then not kept).
    Every scoring function comes through here, so a mode name is resolved to its rules in this
    one place (`score_ov` and its siblings are this with the task filled in)."""
    mode = scorer_mode(mode)
    if task == "ov":
        return _score_ov(samples, mode, level, wheels, keep_samples, sample_sink)
    if task == "hit":
        return _score_hit(samples, mode, level, wheels, keep_samples, sample_sink)
    if task == "sentiment":
        return _score_sentiment(samples, mode, keep_samples, sample_sink)
    raise ValueError(f"unknown task {task!r}; use one of {', '.join(TASKS)}")


# --- MER2024 set-level metric with per-sample synonym clusters --------------------------

def mer2024_cluster_string_to_list(text: str) -> list[list[str]]:
    """The MER2024 `listlist_to_list`: "[['a', 'b'], ['c']]" -> [['a', 'b'], ['c']]."""
    import re

    groups = [part for part in re.split(r"[\[\]]", text) if part.strip() not in ("", ",")]
    return [[w for w in re.split("['\"]", group) if w.strip() not in ("", ",")] for group in groups]


def _mer2024_string_to_list(value: Any) -> list[str]:
    import re

    if not isinstance(value, str) or value == "":
        return []
    inner = value.split("[")[1].split("]")[0] if "[" in value else value
    return [w for w in re.split("['\"]", inner) if w.strip() not in ("", ",")]


def score_ov_clusters(name_to_gt: Mapping[str, Any], name_to_pred: Mapping[str, Any],
                      name_to_clusters: Mapping[str, str]) -> dict[str, float]:
    """MER2024 set-level accuracy/recall: gt and prediction labels are replaced by the first word
    of their synonym cluster (GPT-grouped per sample), then |G∩P|/|P| and |G∩P|/|G| averaged
    over the samples that have clusters. Reproduces MERTools `calculate_openset_overlap_rate_mer2024`."""
    accuracy, recall = [], []
    for name, clusters in name_to_clusters.items():
        synonym = {}
        for group in mer2024_cluster_string_to_list(clusters):
            for word in group:
                synonym[word] = group[0]
        gt = {synonym.get(w, w) for w in (x.lower() for x in _mer2024_string_to_list(name_to_gt[name]))}
        pred = {synonym.get(w, w) for w in (x.lower() for x in _mer2024_string_to_list(name_to_pred[name]))}
        if not pred:
            accuracy.append(0.0), recall.append(0.0)
        else:
            accuracy.append(len(gt & pred) / len(pred)), recall.append(len(gt & pred) / len(gt))
    acc, rec = _plain_mean(accuracy), _plain_mean(recall)
    return {"accuracy": acc, "recall": rec, "avg": (acc + rec) / 2, "n_scored": len(accuracy)}
