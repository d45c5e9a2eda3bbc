"""The main job end to end: `affectgpt pipeline run retrain --local` under kfp.local on demo
clips, every step real (dataset build, frozen encoders, DeepSpeed training of the tiny model,
generation on the MER-UniBench fixture + scoring, MLflow registration with the gate). What runs
is the checked-in compiled pipeline, the cluster's graph: one evaluation task per test set."""

import json

import pytest
from typer.testing import CliRunner

from affectgpt.cli import app
from affectgpt.data.revision import content_revision
from affectgpt_kfp.pipelines.retrain import TEST_SETS


@pytest.fixture(scope="module")
def retrain_run(tmp_path_factory, demo_clip_manifest, fast_configs):
    """One `affectgpt pipeline run retrain --local`: the CLI result, the workspace and the run folder."""
    home = tmp_path_factory.mktemp("e2e") / "home"
    with pytest.MonkeyPatch.context() as monkeypatch:
        monkeypatch.setenv("AFFECTGPT_HOME", str(home))
        monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
        result = CliRunner().invoke(app, [
            # 2 fixture clips a set: the test follows the run, `make run`'s 20 would only cost time
            "pipeline", "run", "retrain", "--local", "--fixture-clips", "2", "--param", f"raw_dir={demo_clip_manifest}",
            "--param", f"build_config={fast_configs['build']}", "--param", f"model_config={fast_configs['model']}",
            "--param", "model_name=affectgpt-e2e",
            # corrected mode: the official arithmetic gives NaN whenever one wheel has P = R = 0,
            # which a tiny model on a dozen clips may well hit; this test wants a number to follow.
            "--param", "scorer_mode=corrected"])
    run_dir = max((home / "pipeline-runs").glob("affectgpt-retrain-*/"), key=lambda p: p.name) \
        if result.exit_code == 0 else None
    return result, home, run_dir


@pytest.mark.e2e
def test_retrain_runs_locally_and_registers_a_scored_candidate(retrain_run, demo_clip_manifest):
    result, home, run_dir = retrain_run
    assert result.exit_code == 0, result.output
    assert "Scorer: corrected mode" in result.output and "affectgpt-e2e v1" in result.output
    report = json.loads((run_dir / "score" / "bench_report" / "report.json").read_text())
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
    # The local run was the cluster's graph: one evaluation task per test set, collected.
    per_set = list(run_dir.glob("for-loop-*/predict/executor_output.json"))
    assert len(per_set) == len(TEST_SETS), per_set
    # The build and the extraction fanned out over the local run's 2 shards, each joined once;
    # evaluation read the test split's packs alone, training the others.
    assert len(list(run_dir.glob("for-loop-*/build-dataset-shard/part/shard.json"))) == 2
    assert len(list(run_dir.glob("for-loop-*/extract-features-shard/part/index.parquet"))) == 2
    assert build_meta["artifacts"]["dataset"]["artifacts"][0]["metadata"]["shards"] == 2
    test_packs = {p.name.split("-")[0] for p in (run_dir / "merge-features" / "test_features" / "packs").iterdir()}
    train_packs = {p.name.split("-")[0] for p in (run_dir / "merge-features" / "features" / "packs").iterdir()}
    assert test_packs == {"test"} and "test" not in train_packs
