"""Fixtures for the dataset-builder tests: a small generated demo corpus and a fast build config."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from affectgpt.data.demo_corpus import make_demo_corpus


@pytest.fixture(scope="session")
def demo_corpus(tmp_path_factory) -> Path:
    """Six demo clips (one per emotion, all in the train split); returns the corpus folder."""
    out = tmp_path_factory.mktemp("demo-corpus")
    make_demo_corpus(out, n_clips=6, seed=0)
    return out


@pytest.fixture()
def raw_copy(demo_corpus: Path, tmp_path: Path) -> Path:
    """A private copy of the demo raw folder that a test may damage."""
    target = tmp_path / "raw"
    shutil.copytree(demo_corpus / "raw", target)
    return target


@pytest.fixture(scope="session")
def shared_cache(tmp_path_factory) -> Path:
    """One per-clip cache for the session: later builds of the same clips reuse it."""
    return tmp_path_factory.mktemp("build-cache")
