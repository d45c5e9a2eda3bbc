"""Fixtures of the report tests: one bench report, one registry review page and one drift report,
each made once per test session by the real code (a real sqlite MLflow registry for the review)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

# The registry tests' helpers (a training run that logs a real pyfunc model with an author).
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "registry"))

from report_pages import make_bench_page, make_drift_page, make_review_page


@pytest.fixture(scope="session")
def bench_page(tmp_path_factory) -> Path:
    return make_bench_page(tmp_path_factory.mktemp("bench-report"))


@pytest.fixture(scope="session")
def review_page(tmp_path_factory) -> Path:
    return make_review_page(tmp_path_factory.mktemp("review"))


@pytest.fixture(scope="session")
def drift_page(tmp_path_factory) -> Path:
    return make_drift_page(tmp_path_factory.mktemp("drift"))
