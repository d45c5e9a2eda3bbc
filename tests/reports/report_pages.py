"""Make each HTML report a person opens, with the awkward cases in it: a set without labels, an
undefined metric, a row the paper has no number for, quarantined lines (bench); an approval,
a promotion and a rollback that revoked the approval (review); a skipped column, a garbled
subtitle and an infinite value (drift).

The fixtures `bench_page`, `review_page` and `drift_page` are imported by the test modules (no
conftest.py here: a second `conftest` module would shadow the registry tests' one). Each page is
made once per session, whichever module asks first.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

# The registry tests' helpers (a training run that logs a real pyfunc model with an author).
sys.path.append(str(Path(__file__).resolve().parents[1] / "registry"))

_MADE: dict[str, Path] = {}


def _once(name: str, make: Callable[[Path], Path], factory) -> Path:
    if name not in _MADE:
        _MADE[name] = make(factory.mktemp(name))
    return _MADE[name]


@pytest.fixture(scope="session", name="bench_page")
def bench_page_fixture(tmp_path_factory) -> Path:
    return _once("bench-report", make_bench_page, tmp_path_factory)


@pytest.fixture(scope="session", name="review_page")
def review_page_fixture(tmp_path_factory) -> Path:
    return _once("review", make_review_page, tmp_path_factory)


@pytest.fixture(scope="session", name="drift_page")
def drift_page_fixture(tmp_path_factory) -> Path:
    return _once("drift", make_drift_page, tmp_path_factory)

REVIEW_RULES = (
    "required_datasets: [mer2023, meld, ovmerdplus]\nmin_mean_improvement: 0.5\nmax_regression: 2.0\n"
    "min_scores: {mer2023: 30.0}\nmin_mean: 20.0\nrequire_authenticated: false\n"
)


def bench_report():
    """A `BenchReport` as `bench eval` makes one, on three of the nine sets."""
    from affectgpt.bench.bootstrap import BootstrapSettings
    from affectgpt.bench.datasets import DATASETS
    from affectgpt.bench.runner import BenchReport, DatasetReport
    from affectgpt.manifest import SkippedRecord

    datasets = {}
    for name, value in (("mer2023", 0.4321), ("meld", 0.3055), ("ovmerdplus", 0.2710)):
        datasets[name] = DatasetReport(name, DATASETS[name].display_name, "hit", "scored", metric="hit_rate",
                                       value=value, n_scored=12, n_gold=12, paper_value=DATASETS[name].paper_value,
                                       baseline_value=0.2, interval=[value - 0.1, value + 0.0875], too_few_clips=True,
                                       vs_baseline={"delta": value - 0.2, "interval": [value - 0.35, value - 0.05],
                                                    "n_common": 12})
    datasets["mer2024"] = DatasetReport("mer2024", "MER2024", "hit", "missing_labels",
                                        paper_value=DATASETS["mer2024"].paper_value,
                                        notes=["the reference data has no MER2024 labels"])
    datasets["sims"] = DatasetReport("sims", "SIMS", "hit", "scored", metric="f1", value=float("nan"),
                                     paper_value=DATASETS["sims"].paper_value)
    datasets["local"] = DatasetReport("local", "local (corpus test split)", "hit", "scored", metric="hit_rate",
                                      value=0.5, n_scored=3, notes=["not a MER-UniBench set, not in the mean"])
    return BenchReport(
        mode="corrected", level=1, wheels="mer2025", extractor={"name": "lexicon", "version": "3",
                                                                 "prompt_hash": "0f3a"},
        datasets=datasets, mean=(0.4321 + 0.3055 + 0.2710) / 3, mean_over=["meld", "mer2023", "ovmerdplus"],
        complete=False, decoding="greedy", notes=["fixture: SYNTHETIC media (real labels and subtitles)"],
        skipped=[SkippedRecord(record_id="l3", reason="malformed_json"),
                 SkippedRecord(record_id="l7", reason="unknown_clip"),
                 SkippedRecord(record_id="l9", reason="unknown_clip")],
        baseline={"name": "subtitle-only", "description": "the extractor run on the subtitle alone (no model)",
                  "mean": 0.2, "model_minus_baseline": {"delta_mean": 0.1362, "interval": [0.0125, 0.25]}},
        uncertainty=BootstrapSettings().describe(), mean_interval=[0.2650, 0.4125],
        lineage={"unibench_rev": "sha256:" + "ab" * 32, "unibench_dir": "/data/unibench"},
    )


def make_bench_page(out: Path) -> Path:
    from affectgpt.bench.report import write_report_files

    return write_report_files(bench_report(), out)["report.html"]


def _bench_json(folder: Path, scores: dict[str, float]) -> Path:
    """A bench report in percent with what `bench eval` writes beside each score: n, a 95 %
    interval, the subtitle-only baseline, the paper value, the test-set revision, the decoding."""
    from affectgpt.bench.datasets import DATASETS

    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"report-{time.monotonic_ns()}.json"
    path.write_text(json.dumps({"units": "percent", "mode": "corrected", "decoding": "greedy",
                                "lineage": {"unibench_rev": "sha256:" + "cd" * 32}, "datasets": {
        name: {"value": value, "status": "scored", "n_scored": 40, "interval": [value - 4.5, value + 4.25],
               "baseline_value": 31.5, "paper_value": DATASETS[name].paper_value}
        for name, value in scores.items()}}))
    return path


def review_flow(root: Path):
    """alice's v1 (approved by bob, promoted by carol), v2 (approved by bob, promoted, then rolled
    back by carol, which revokes the approval); returns (client, rules path, v2 version)."""
    from registry_testkit import FAST_RETRY, log_training_run

    from affectgpt.registry import RegistryClient, approve, promote, register_candidate, rollback

    client = RegistryClient(f"sqlite:///{root / 'mlflow.db'}", FAST_RETRY)
    rules = root / "promotion.yaml"
    rules.write_text(REVIEW_RULES)

    def register(level: float, **overrides: float):
        scores = {"mer2023": level, "meld": level, "ovmerdplus": level} | overrides
        return register_candidate(log_training_run(client.tracking_uri, "alice"), "affect",
                                  _bench_json(root / "reports", scores), data_rev=f"dvc-{level}", code_rev="abc123",
                                  config_hash="cfg1", scorer_mode="corrected", promotion_config=rules,
                                  client=client, actor="alice")

    v1 = register(50.0)
    approve("affect", v1.version, reviewer="bob", comment="first model", client=client)
    promote("affect", v1.version, actor="carol", client=client)
    v2 = register(53.0, meld=51.25)
    approve("affect", v2.version, reviewer="bob", comment="better on all three", client=client)
    promote("affect", v2.version, actor="carol", client=client)
    rollback("affect", actor="carol", reason="MELD complaints from the support team", client=client)
    return client, v2.version


def make_review_page(out: Path) -> Path:
    from affectgpt.registry import review_version

    client, version = review_flow(out)
    return review_version("affect", version, out_dir=out / "pages", reviewer="dave", client=client).report_path


def _drift_batch(seed: int, n_rows: int = 60, shift: float = 0.0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({
        "clip_id": [f"clip{seed}_{i}" for i in range(n_rows)],
        "duration_s": rng.normal(4.0 + shift, 1.0, n_rows),
        "language": rng.choice(["en", "zh"], n_rows),
        "subtitle": [f"line number {i}" for i in range(n_rows)],
        "face_emb": list(rng.normal(shift, 1.0, (n_rows, 8)).astype(np.float32)),
        "predicted_label": rng.choice(["happy", "sad"], n_rows),
        "model_version": "affectgpt-tiny:3",
        "fps": np.nan,
    })


def make_drift_page(out: Path) -> Path:
    from affectgpt.monitor import drift_report

    config = out / "monitoring.yaml"
    config.write_text("text: {content_drift: false, descriptors: [length]}\nembeddings: {plot_components: 1}\n")
    current = _drift_batch(1, shift=2.0)
    current.loc[0, "subtitle"] = "line\ufffd numb3r\x1d 0"  # garbled: counted on its own
    current.loc[1, "duration_s"] = np.inf  # left out like NaN
    drift_report(_drift_batch(0), current, out / "report", config_path=config)
    return out / "report" / "drift.html"
