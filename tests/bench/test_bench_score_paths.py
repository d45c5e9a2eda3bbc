"""The two OV code paths (per-sample details in Python; aggregate only in Arrow/numpy) give the
same numbers on awkward input: every field type the official parser accepts, non-ASCII text,
Python-whitespace that Arrow does not trim by default, empty lists, unknown words."""

from __future__ import annotations

import math
import random

import pytest

from affectgpt.bench.metrics import score_ov
from affectgpt.bench.wheels import load_wheels

AWKWARD = [
    "['Happy', ' sad ']", "[happy, sad]", "[", "]", "[]", "", None, float("nan"), ["Happy "], [], ("joyful",),
    "\x1cangry\x1f", "[don't care]", "['worried’]", "HAPPY", "[ 'Élan', 'sad' ]", ["cheerful", 3], "grateful]",
    "[[happy]]", "happy,,sad", '["anxious", "calm"]', ["\u00a0sad"], "nonsense-word", "sad,", "[sad,]", "[]]",
    "[[", "],[", "'", '"', ",", "[,]", "[ ]", " [happy] ", "]happy[", "Happy\t,\nsad",
]


def _random_samples(n: int, seed: int) -> list[dict]:
    rng = random.Random(seed)
    words = sorted(load_wheels("mer2026").vocabulary())
    samples = []
    for i in range(n):
        def field():
            kind = rng.random()
            if kind < 0.3:
                return rng.choice(AWKWARD)
            picked = [w.upper() if rng.random() < 0.1 else w for w in rng.sample(words, rng.randint(0, 4))]
            return str(picked) if kind < 0.65 else picked
        samples.append({"name": str(i), "gt": field(), "pred": field()})
    return samples


@pytest.mark.parametrize("mode", ["official", "corrected"])
@pytest.mark.parametrize("level", [1, 2])
def test_aggregate_path_equals_the_per_sample_path(mode, level):
    samples = _random_samples(3000, seed=level)
    fast = score_ov(samples, mode=mode, level=level, keep_samples=False)
    slow = score_ov(samples, mode=mode, level=level, keep_samples=True)
    assert fast.n_samples == slow.n_samples and fast.n_scored == slow.n_scored
    for name, wheel in slow.per_wheel.items():
        other = fast.per_wheel[name]
        assert other.n_scored == wheel.n_scored
        for field in ("precision", "recall", "f"):
            a, b = getattr(other, field), getattr(wheel, field)
            assert (math.isnan(a) and math.isnan(b)) or a == pytest.approx(b, abs=1e-12)
    assert (math.isnan(fast.score) and math.isnan(slow.score)) or fast.score == pytest.approx(slow.score, abs=1e-12)


def _write(path, records):
    import json

    path.write_text("".join(json.dumps(record, ensure_ascii=False) + "\n" for record in records))
    return path


@pytest.mark.parametrize("level", [1, 2])
def test_columnar_path_equals_the_python_path(tmp_path, level):
    from affectgpt.bench.metrics import score_ov_columns
    from affectgpt.bench.score_input import read_ov_columns, read_score_input

    rng = random.Random(level)
    words = sorted(load_wheels("mer2026").vocabulary())  # includes non-ASCII spellings (’)
    strings = [s for s in AWKWARD if isinstance(s, str)]
    records = []
    for i in range(2000):
        gt = rng.choice(strings) if rng.random() < 0.3 else str(rng.sample(words, rng.randint(0, 3)))
        pred = rng.choice([["Happy "], [], ["\u00a0sad", "ANGRY"], ["don't care"]]) if rng.random() < 0.3 \
            else [w.upper() if rng.random() < 0.1 else w for w in rng.sample(words, rng.randint(0, 4))]
        records.append({"name": f"s{i}", "gt": gt, "pred": pred})
    path = _write(tmp_path / "clean.jsonl", records)
    columns = read_ov_columns(path)
    assert columns is not None
    fast = score_ov_columns(*columns, level=level)
    slow = score_ov(read_score_input(path, "ov"), mode="official", level=level, keep_samples=True)
    assert fast.n_samples == slow.n_samples == 2000 and fast.n_scored == slow.n_scored
    for name, wheel in slow.per_wheel.items():
        assert fast.per_wheel[name].n_scored == wheel.n_scored
        assert fast.per_wheel[name].precision == pytest.approx(wheel.precision, abs=1e-12)
        assert fast.per_wheel[name].recall == pytest.approx(wheel.recall, abs=1e-12)
    assert (math.isnan(fast.score) and math.isnan(slow.score)) or fast.score == pytest.approx(slow.score, abs=1e-12)


@pytest.mark.parametrize("records", [
    [{"name": "a", "gt": "[happy]", "pred": ["sad"]}, {"name": "b", "gt": ["x"], "pred": ["sad"]}],  # mixed types
    [{"name": "a", "gt": "[happy]", "pred": ["sad"]}, {"name": "b", "gt": "[sad]"}],  # missing field
    [{"name": "a", "gt": "[happy]", "pred": ["sad"]}, {"name": "b", "gt": None, "pred": ["sad"]}],  # null
    [{"name": "a", "gt": "[happy]", "pred": ["sad"]}, {"name": "a", "gt": "[sad]", "pred": ["sad"]}],  # duplicate
    [{"name": 1, "gt": "[happy]", "pred": ["sad"]}],  # name not a string
    [{"name": "a", "gt": "[happy]", "pred": ["sad", None]}],  # null item
    [],  # empty file
])
def test_columnar_reader_leaves_anything_unusual_to_the_checked_reader(tmp_path, records):
    from affectgpt.bench.score_input import read_ov_columns

    assert read_ov_columns(_write(tmp_path / "in.jsonl", records)) is None
    broken = tmp_path / "broken.jsonl"
    broken.write_text('{"name": "a", "gt": "[happy]", "pred": ["sad"]}\n{"name": "b" "gt": 1}\n')
    assert read_ov_columns(broken) is None
