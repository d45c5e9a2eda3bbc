"""The main job end to end: `affectgpt pipeline run retrain --local` under kfp.local on demo
clips, every step real (dataset build, frozen encoders, DeepSpeed training of the tiny model,
generation on the MER-UniBench fixture, one task per set, + scoring, MLflow registration with
the gate)."""

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from affectgpt.cli import app
from affectgpt.pipeline_cli import content_revision


@pytest.mark.e2e
def test_retrain_runs_locally_and_registers_a_scored_candidate(tmp_path: Path, monkeypatch, demo_clip_manifest,
                                                               fast_configs):
    home = tmp_path / "home"
    monkeypatch.setenv("AFFECTGPT_HOME", str(home))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    result = CliRunner().invoke(app, [
        "pipeline", "run", "retrain", "--local", "--param", f"raw_dir={demo_clip_manifest}",
        "--param", f"build_config={fast_configs['build']}", "--param", f"model_config={fast_configs['model']}",
        "--param", "model_name=affectgpt-e2e",
        # corrected mode: the official arithmetic gives NaN whenever one wheel has P = R = 0,
        # which a tiny model on a dozen clips may well hit; this test wants a number to follow.
        "--param", "scorer_mode=corrected"])
    assert result.exit_code == 0, result.output
    assert "MER-UniBench (corrected mode," in result.output and "affectgpt-e2e v1" in result.output

    run_dir = max((home / "pipeline-runs").glob("affectgpt-retrain-*/"), key=lambda p: p.name)
    report = json.loads((run_dir / "evaluate" / "bench_report" / "report.json").read_text())
    local = report["datasets"]["local"]
    assert report["mode"] == "corrected" and local["status"] == "scored"
    assert 0.0 <= local["value"] <= 1.0 and local["n_scored"] >= 1
    assert f"{100 * local['value']:.2f}" in result.output  # the summary shows the run's real score
    # The nine MER-UniBench rows, scored from the fixture the run made (MER2024: no labels, said so).
    from affectgpt.bench.datasets import DATASETS

    assert set(DATASETS) <= set(report["datasets"]) and "SYNTHETIC" in " ".join(report["notes"])
    fixture_sets = [name for name in DATASETS if name != "mer2024"]
    assert all(report["datasets"][name]["status"] == "scored" for name in fixture_sets)
    assert "no MER2024 labels" in " ".join(report["datasets"]["mer2024"]["notes"])
    for name in fixture_sets:
        assert DATASETS[name].display_name in result.output

    data_rev = content_revision(demo_clip_manifest)
    build_meta = json.loads((run_dir / "build-dataset" / "executor_output.json").read_text())
    assert build_meta["artifacts"]["dataset"]["artifacts"][0]["metadata"]["data_rev"] == data_rev

    import mlflow
    from mlflow import MlflowClient

    mlflow.set_tracking_uri(f"sqlite:///{home / 'mlflow.db'}")
    versions = MlflowClient().search_model_versions("name='affectgpt-e2e-candidates'")  # candidates model
    assert len(versions) == 1
    assert versions[0].tags["affectgpt.data_rev"] == data_rev
    assert versions[0].tags["affectgpt.unibench_rev"] == report["lineage"]["unibench_rev"]
    registered = json.loads(versions[0].tags["affectgpt.state"])["registration"]["scores"]
    assert set(fixture_sets) <= set(registered)  # registered with all the scores the fixture gives
    train_manifest = json.loads((run_dir / "train" / "model" / "manifest.json").read_text())
    assert versions[0].run_id == train_manifest["extra"]["mlflow_run_id"]
