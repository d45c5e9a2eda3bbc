"""The main job end to end: `affectgpt pipeline run retrain --local` under kfp.local on demo
clips, every step real (dataset build, frozen encoders, DeepSpeed training of the tiny model,
generation on the MER-UniBench fixture + scoring, MLflow registration with the gate). Locally
one task predicts every test set; the cluster's one-task-per-set shape must give the same scores."""

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from affectgpt.cli import app
from affectgpt.pipeline_cli import content_revision


@pytest.fixture(scope="module")
def retrain_run(tmp_path_factory, demo_clip_manifest, fast_configs):
    """One `affectgpt pipeline run retrain --local` (every test set evaluated in one task, the
    kfp.local shape): the CLI result, the workspace and the run folder."""
    home = tmp_path_factory.mktemp("e2e") / "home"
    with pytest.MonkeyPatch.context() as monkeypatch:
        monkeypatch.setenv("AFFECTGPT_HOME", str(home))
        monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
        result = CliRunner().invoke(app, [
            "pipeline", "run", "retrain", "--local", "--param", f"raw_dir={demo_clip_manifest}",
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
    assert len(list(run_dir.rglob("evaluate-dataset/executor_output.json"))) == 1  # one task for all sets
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
    # The steps after the first handed their work to the warm step server (affectgpt.warm_steps).
    warm_log = (home / "pipeline-runs" / "warm-steps.log").read_text()
    assert "ready after" in warm_log and "runs affectgpt.evaluate:register_trained_model" in warm_log


@pytest.mark.e2e
def test_one_task_per_test_set_scores_the_same_as_one_task_for_all(retrain_run, tmp_path: Path, monkeypatch):
    """The cluster's shape (one `evaluate_dataset` task per set) on the model, dataset and
    features of the local run (one task for every set) gives the same predictions and scores."""
    from kfp import dsl

    from pipelines.local_run import run_local
    from pipelines.retrain import evaluate_test_sets

    result, home, run_dir = retrain_run
    assert result.exit_code == 0, result.output
    report = json.loads((run_dir / "evaluate" / "bench_report" / "report.json").read_text())
    sets = ["mer2023", "meld", "local"]
    uris = {name: str(run_dir / task / name) for name, task in
            (("model", "train"), ("dataset", "build-dataset"), ("features", "extract-features"))}
    lineage = report["lineage"]

    @dsl.pipeline(name="affectgpt-eval-fanout")
    def fanout():
        imported = {name: dsl.importer(artifact_uri=uri, artifact_class=dsl.Model if name == "model" else dsl.Dataset)
                    for name, uri in uris.items()}
        evaluate_test_sets(imported["model"].output, imported["dataset"].output, imported["features"].output,
                           unibench_dir=lineage["unibench_dir"], unibench_rev=lineage["unibench_rev"],
                           decoding="greedy", scorer_mode="corrected", extractor="lexicon", judge="",
                           retries=False, eval_parallelism=1, test_sets=sets)

    monkeypatch.setenv("AFFECTGPT_HOME", str(home))
    run = run_local(fanout, {}, tmp_path / "runs")
    per_set = list((tmp_path / "runs").rglob("evaluate-dataset/executor_output.json"))
    assert len(per_set) == len(sets)  # one task per set, as on the cluster
    fanned = json.loads((run.artifact_path("evaluate", "bench_report") / "report.json").read_text())
    for name in sets:
        ours, theirs = fanned["datasets"][name], report["datasets"][name]
        assert ours["status"] == theirs["status"] == "scored", name
        assert (ours["value"], ours["n_scored"], ours.get("baseline_value")) == \
            (theirs["value"], theirs["n_scored"], theirs.get("baseline_value")), name
    grouped = next(run_dir.glob("for-loop-*/evaluate-dataset/predictions"))
    fanned_lines = {p.name: p.read_text() for p in (tmp_path / "runs").rglob("*.jsonl")
                    if p.stem in sets and "baseline" not in p.parts}
    assert set(fanned_lines) == {f"{name}.jsonl" for name in sets}
    for name in sets:
        assert fanned_lines[f"{name}.jsonl"] == (grouped / name / f"{name}.jsonl").read_text(), name
