"""The small shared helpers: the NaN cleaner every table-to-JSON path uses and the atomic
single-file write every table, manifest and cache entry goes through."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from affectgpt.atomic import atomic_path
from affectgpt.jsonline import nan_to_none


def test_nan_to_none_cleans_nested_values_and_keeps_the_rest():
    row = {"valence": float("nan"), "score": np.float64("nan"), "n": 3, "labels": ("a", math.nan),
           "nested": {"x": [1.5, float("nan")]}, "path": Path("/tmp/a"), "inf": math.inf, "text": "nan"}
    assert nan_to_none(row) == {"valence": None, "score": None, "n": 3, "labels": ["a", None],
                                "nested": {"x": [1.5, None]}, "path": "/tmp/a", "inf": math.inf, "text": "nan"}
    assert nan_to_none(float("nan")) is None and nan_to_none(None) is None and nan_to_none(0.0) == 0.0


def test_atomic_path_replaces_whole_or_not_at_all(tmp_path):
    target = tmp_path / "deep" / "table.json"
    with atomic_path(target) as tmp:
        assert tmp.parent == target.parent and tmp.name.startswith(".") and not target.exists()
        tmp.write_text("one")
    assert target.read_text() == "one"
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("killed mid-write")
    assert target.read_text() == "one"
    assert sorted(p.name for p in target.parent.iterdir()) == ["table.json"]  # no temporary left
