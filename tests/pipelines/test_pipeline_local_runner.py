"""kfp.local runs (SubprocessRunner, no Docker): outputs are collected per task, and a failing
step stops the run with that step's own error rather than kfp's traceback."""


import json
from pathlib import Path

import pytest
from kfp import dsl
from kfp.dsl import Dataset, Input, Output
from typer.testing import CliRunner

from affectgpt.cli import app
from affectgpt_kfp.pipelines.local_run import StepFailed, run_local


@dsl.component(base_image="python:3.11", install_kfp_package=False)
def write_rows(n: int, rows: Output[Dataset]):
    with open(rows.path, "w") as handle:
        handle.write("\n".join(str(i) for i in range(n)))
    rows.metadata["n"] = n


@dsl.component(base_image="python:3.11", install_kfp_package=False)
def check_rows(rows: Input[Dataset], minimum: int) -> int:
    with open(rows.path) as handle:
        count = len(handle.read().split())
    if count < minimum:
        raise ValueError(f"{rows.path}: {count} rows, need at least {minimum}; add rows or lower --minimum")
    return count


@dsl.pipeline(name="rows")
def rows_pipeline(n: int, minimum: int) -> int:
    return check_rows(rows=write_rows(n=n).outputs["rows"], minimum=minimum).output


def test_a_run_collects_each_tasks_outputs(tmp_path: Path):
    run = run_local(rows_pipeline, {"n": 5, "minimum": 3}, tmp_path)
    assert run.output == 5
    assert run.artifact_path("write-rows", "rows").read_text().split() == ["0", "1", "2", "3", "4"]
    assert run.artifact_metadata("write-rows", "rows")["n"] == 5
    assert run.parameter("check-rows", "Output") == 5
    assert run.run_dir.name.startswith("rows-") and run.log_path.is_file()


def test_a_failing_step_reports_its_own_error(tmp_path: Path):
    with pytest.raises(StepFailed) as failure:
        run_local(rows_pipeline, {"n": 2, "minimum": 3}, tmp_path)
    assert failure.value.step == "check-rows"
    assert failure.value.error.startswith("ValueError: ") and "2 rows, need at least 3" in failure.value.error
    assert "Traceback" not in str(failure.value)
    assert "Traceback" in failure.value.log_path.read_text()  # the full story stays in the log


@dsl.component(base_image="python:3.11", install_kfp_package=False)
def fetch_folder(name: str) -> str:
    return f"/data/{name}"


@dsl.component(base_image="python:3.11", install_kfp_package=False)
def list_shards(n: int) -> list:
    return list(range(n))


@dsl.component(base_image="python:3.11", install_kfp_package=False)
def read_shard(folder: str, shard: int) -> str:
    return f"{folder}#{shard}"


@dsl.pipeline(name="shards-read-a-folder")
def shards_read_a_fetched_folder(name: str):
    folder = fetch_folder(name=name)
    shards = list_shards(n=2)
    with dsl.ParallelFor(shards.output) as shard:
        read_shard(folder=folder.output, shard=shard)


def test_a_loop_body_gets_another_tasks_output_not_the_loop_item(tmp_path: Path):
    """As on a cluster (the retrain graph's build shards read the folder `pull_data` returns):
    kfp.local alone would hand the body the shard number for the folder."""
    run = run_local(shards_read_a_fetched_folder, {"name": "raw"}, tmp_path)
    outputs = sorted(json.loads(p.read_text())["parameterValues"]["Output"]
                     for p in run.run_dir.rglob("read-shard/executor_output.json"))
    assert outputs == ["/data/raw#0", "/data/raw#1"]


def test_cli_rejects_bad_inputs_in_one_line(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("AFFECTGPT_HOME", str(tmp_path / "home"))
    notes = tmp_path / "notes.txt"
    notes.write_text("not a corpus")
    result = CliRunner().invoke(app, ["pipeline", "run", "retrain", "--local", "--param", f"raw_dir={notes}"])
    assert result.exit_code == 2 and "expected a clip folder" in result.output and "Traceback" not in result.output
    result = CliRunner().invoke(app, ["pipeline", "run", "retrain"])
    assert result.exit_code == 2 and "only --local runs here" in result.output
    result = CliRunner().invoke(app, ["pipeline", "run", "retrain", "--local", "--param", "oops"])
    assert result.exit_code == 2 and "NAME=VALUE" in result.output


@dsl.component(base_image="python:3.11", install_kfp_package=False)
def read_master_port() -> str:
    import os

    return os.environ.get("MASTER_PORT", "unset")


@dsl.pipeline(name="env-probe")
def env_probe() -> str:
    return read_master_port().output


def test_a_rendezvous_of_this_process_does_not_leak_into_steps(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("MASTER_PORT", "29511")  # as an in-process training run leaves it
    assert run_local(env_probe, {}, tmp_path).output == "unset"
    assert __import__("os").environ["MASTER_PORT"] == "29511"


def test_a_run_leaves_the_root_logger_as_it_was(tmp_path):
    """kfp.local's module-level logging would install a root handler bound to the stderr of the
    moment (a test runner's or a notebook's, closed later); after a run the root has exactly the
    handlers it had before."""
    import logging

    root = logging.getLogger()
    before = root.handlers[:]
    run_local(rows_pipeline, {"n": 5, "minimum": 3}, tmp_path)
    assert root.handlers == before


@pytest.mark.parametrize("params, code, expected", [
    (["raw_dri=x"], 2, "retrain: unknown input 'raw_dri' (did you mean 'raw_dir'?)"),
    (["workers=two"], 2, "--param workers=two: expected an integer"),
    (["unibench_dir=/nowhere/unibench"], 4, "--param unibench_dir=/nowhere/unibench: no such folder"),
    (["model_config=nosuch.yaml"], 4, "--param model_config=nosuch.yaml: no such file and no packaged config"),
    (["promotion_config=/nowhere/promotion.yaml"], 4, "--param promotion_config=/nowhere/promotion.yaml"),
    (["dvc_repo=/nowhere/repo", "raw_dir=raw"], 4, "--param dvc_repo=/nowhere/repo: no such folder"),
])
def test_a_local_run_checks_its_inputs_before_any_work(tmp_path: Path, monkeypatch, params, code, expected):
    """The corpus is made only after every input passed: a typo costs a second, not the minutes of
    a corpus build (or of the steps before the one that reads the input). The words are those of
    `pipeline submit` (one validator)."""
    home = tmp_path / "home"
    monkeypatch.setenv("AFFECTGPT_HOME", str(home))
    given = [arg for item in params for arg in ("-p", item)]
    result = CliRunner().invoke(app, ["pipeline", "run", "retrain", "--local", "--root", str(tmp_path / "runs"), *given])
    assert result.exit_code == code, result.output
    assert expected in result.output and "Traceback" not in result.output
    assert not home.exists() or list(home.iterdir()) == []  # no corpus, no fixture, no store
    assert not (tmp_path / "runs").exists()
    if code == 2 and "unknown input" in expected:
        submit = CliRunner().invoke(app, ["pipeline", "submit", "retrain", "--host", "http://127.0.0.1:9", *given])
        assert submit.exit_code == 2 and expected in submit.output


@dsl.component(base_image="python:3.11", install_kfp_package=False)
def slow_steps(release: str) -> int:
    import os
    import time

    from affectgpt.progress import step_progress

    with step_progress("probe", total=2, unit="step", every=1) as bar:
        bar.update(1, loss=1.0)
        print("a component's own print")  # stdout (a pipe in a step process), not the reporter's stderr
        deadline = time.monotonic() + 60  # the test releases the step once it saw both lines
        while not os.path.exists(release) and time.monotonic() < deadline:
            time.sleep(0.05)
        bar.update(1, loss=0.5)
    return 2


@dsl.pipeline(name="progress-probe")
def progress_probe(release: str) -> int:
    return slow_steps(release=release).output


def test_a_running_steps_progress_reaches_its_log_before_the_step_ends(tmp_path: Path, monkeypatch):
    """`pipeline run --local` shows a step's progress in its log file while the step runs (a
    training step runs for hours): the step process writes it to the pipe kfp.local reads at
    once, and the log file is written line by line, not when its buffer fills."""
    import threading
    import time

    monkeypatch.delenv("PYTHONUNBUFFERED", raising=False)  # as in a user's shell
    release, root = tmp_path / "release", tmp_path / "root"
    outcome: dict = {}
    runner = threading.Thread(target=lambda: outcome.update(run=run_local(progress_probe, {"release": str(release)},
                                                                          root)))
    runner.start()
    log, seen = root / "progress-probe-latest.log", ""
    expected = ("probe: step 1/2 loss 1.000", "a component's own print")
    deadline = time.monotonic() + 20
    try:
        while time.monotonic() < deadline and not all(line in seen for line in expected):
            seen = log.read_text() if log.is_file() else ""
            time.sleep(0.05)
        still_running = not release.exists()
    finally:
        release.touch()
        runner.join(120)
    assert all(line in seen for line in expected) and still_running, (seen, log.read_text())
    assert outcome["run"].output == 2 and "probe: step 2/2 loss 0.500" in log.read_text()
