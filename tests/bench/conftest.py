"""Fixtures of the MER-UniBench tests."""

from __future__ import annotations

import csv
import io
import zipfile
from pathlib import Path

import numpy as np
import pytest


@pytest.fixture(scope="session")
def ov_store(mertools: Path) -> Path:
    return mertools / "MER2024" / "ov_store"


@pytest.fixture(scope="session")
def ov_gold_and_baseline(ov_store: Path) -> tuple[dict[str, str], dict[str, str]]:
    def read(name: str) -> dict[str, str]:
        with open(ov_store / name, encoding="utf-8") as handle:
            return {row["name"]: row["openset"] for row in csv.DictReader(handle)}

    return read("check-openset.csv"), read("predict-openset.csv")


@pytest.fixture(scope="session")
def ov_clusters(ov_store: Path) -> dict[str, str]:
    clusters = {}
    with zipfile.ZipFile(ov_store / "openset-synonym.zip") as archive:
        for member in archive.namelist():
            if member.endswith(".npy"):
                clusters[Path(member).stem] = str(np.load(io.BytesIO(archive.read(member))).tolist())
    return clusters
