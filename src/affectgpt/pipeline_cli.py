"""`affectgpt pipeline ...` (run locally, compile, submit, schedule) and `affectgpt cluster ...`
(the DeepSpeed PyTorchJob).

No library module imports kfp; only this module and `pipeline_runs.py` import `affectgpt_kfp`
(the components and pipelines, shipped in the same distribution), inside their commands.

    affectgpt pipeline run retrain --local                  # the main job: demo corpus, tiny config
    affectgpt pipeline compile [--check]
    affectgpt pipeline submit retrain --host URL --param raw_dir=/data/raw --param data_rev=...
    affectgpt pipeline schedule monitor --host URL --cron "0 3 * * *" --param ...
    affectgpt pipeline runs --host URL [--experiment NAME] [--limit N] [--json]
    affectgpt pipeline status RUN_ID --host URL [--json]
    affectgpt cluster train-job --config C --data D --out O --nodes 2 --gpus-per-node 8 [--submit]
    affectgpt cluster preflight --overlay infra/overlays/gpu-cluster [--pipelines DIR] [--json]
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from affectgpt.bench.testsets import FIXTURE_CLIPS_PER_SET
from affectgpt.cli_common import console, err_console, existing, fail, friendly_errors, new_app, say_path
from affectgpt.data.revision import content_revision
from affectgpt.errors import AffectgptError, ExitCode, NotFound
from affectgpt.manifest import MANIFEST_NAME
from affectgpt.paths import packaged_config, workspace_dir

pipeline_app = new_app(help="Kubeflow pipelines: run locally (kfp.local), compile, submit, schedule, "
                            "list runs, show a run's status.")
cluster_app = new_app(help="Kubernetes: the DeepSpeed training job (PyTorchJob) on N GPUs, and the preflight "
                            "check of an overlay with the compiled pipelines.")

PIPELINES = ("retrain", "retrain-k8s", "monitor", "monitor-k8s")
Params = Annotated[list[str] | None, typer.Option("--param", "-p", help="pipeline input NAME=VALUE (repeatable)")]
NodeGpus = Annotated[int | None, typer.Option("--node-gpus", min=0, help="GPUs of one node of the training node "
                                              "pool: no training pod may ask for more (default: "
                                              "$AFFECTGPT_NODE_GPUS, the platform ConfigMap's key, else 8)")]
DEFAULT_EXPERIMENT = "affectgpt"


def _fail(message: str, code: int = ExitCode.BAD_INPUT) -> None:
    fail(message, int(code))


def _check_name(name: str) -> str:
    if name not in PIPELINES:
        _fail(f"unknown pipeline {name!r}; choose one of {', '.join(PIPELINES)}")
    return name


def _compiled_package(name: str) -> Path:
    from affectgpt_kfp.pipelines import COMPILED_DIR

    package = COMPILED_DIR / f"{name}.yaml"
    if not package.is_file():
        fail(NotFound(f"{package} not found; run `affectgpt pipeline compile`"))
    return package


# ---------------------------------------------------------------- pipeline run --local


# Inputs a local run fills in when they are not given (`_prepare_local_retrain`).
LOCAL_DEFAULTS = ("raw_dir", "data_rev")
# The corpus made when no raw_dir is given and there is no reference data: the 48 sentences
# written for the demo (more clips would only repeat them).
DEMO_CORPUS_CLIPS = 24


def _prepare_local_retrain(params: dict[str, Any], home: Path, n_clips: int | None,
                           fixture_clips: int = FIXTURE_CLIPS_PER_SET) -> dict[str, Any]:
    """Defaults for a run on one machine: a corpus with real text from the reference data's train
    splits (the written demo sentences when there is no reference data), the MER-UniBench
    fixture (real test labels and subtitles, synthetic media), the tiny config, 1 worker. What was
    given was checked before (`check_local_paths`): a corpus or a fixture takes minutes."""
    from affectgpt.paths import reference_data_dir

    reference = reference_data_dir(required=False)
    if params.get("dvc_repo"):
        _prepare_dvc_corpus(params)
    elif "raw_dir" not in params:
        params["raw_dir"] = str(_local_corpus(home, n_clips, reference is not None) / "raw")
        # The demo model is judged on the sets the fixture really has (configs/promotion-demo.yaml);
        # production uses configs/promotion.yaml (all nine sets).
        params.setdefault("promotion_config", str(packaged_config("promotion-demo.yaml")))
        # The official OV F is undefined (NaN) whenever precision = recall = 0 on a wheel, which
        # a tiny model hits easily; the demo gate needs a number for every set.
        params.setdefault("scorer_mode", "corrected")
    if "unibench_dir" not in params:
        if reference is not None:
            params["unibench_dir"] = str(_local_fixture(home, fixture_clips))
        else:
            console.print("[yellow]no reference data (AFFECTGPT_REFERENCE_DATA): no MER-UniBench fixture, so the "
                          "nine rows will say 'no test-set folder'; pass --param unibench_dir=DIR[/]")
    # Given paths were checked before any work (`check_local_paths`); these are absolute for the steps.
    if not params.get("dvc_repo"):
        raw_dir = Path(params["raw_dir"]).resolve()
        params["raw_dir"] = str(raw_dir)
        params.setdefault("data_rev", content_revision(raw_dir))
    if params.get("unibench_dir"):
        unibench = Path(params["unibench_dir"]).resolve()
        params["unibench_dir"] = str(unibench)
        params.setdefault("unibench_rev", content_revision(unibench))
    params.setdefault("model_config", str(packaged_config("tiny.yaml")))
    params.setdefault("workers", 1)
    params.setdefault("shards", 2)  # the cluster's fan-out, at this machine's size
    params.setdefault("gpus_per_node", 0)
    return params


def _prepare_dvc_corpus(params: dict[str, Any]) -> None:
    """With `dvc_repo` the pull step brings the corpus: `raw_dir` names the tracked folder inside
    the repository (no demo corpus is made), and `data_rev` is its pointer's revision unless
    given (`checked_arguments` filled it in when it could)."""
    from affectgpt.errors import BadInput
    from affectgpt.pipeline_inputs import is_url

    if not params.get("raw_dir"):
        raise BadInput("--param dvc_repo: name the tracked folder inside it too, --param raw_dir=PATH (e.g. raw)")
    if not params.get("data_rev"):
        raise BadInput(f"--param dvc_repo={params['dvc_repo']}: no revision of {params['raw_dir']} found there; "
                       "pass --param data_rev=dvc:<md5>")
    if not is_url(str(params["dvc_repo"])):
        params["dvc_repo"] = str(Path(params["dvc_repo"]).expanduser().resolve())  # the steps run elsewhere


def _local_corpus(home: Path, n_clips: int | None, real_text: bool) -> Path:
    """Made once into the workspace and reused while its manifest records the size, seed and
    splits asked for: real subtitles and labels from the reference train splits with synthetic
    media, or (no reference data) the written demo sentences. Another size is made afresh."""
    corpus = home / ("reference-corpus" if real_text else "demo-corpus")
    if real_text:
        from affectgpt.data.reference_corpus import LOCAL_CORPUS_CLIPS, SPLITS_NAME, make_reference_corpus

        n_clips = n_clips or LOCAL_CORPUS_CLIPS
        if not _made_with(corpus / MANIFEST_NAME, corpus / "clip_manifest.parquet",
                          {"n_clips": n_clips, "seed": 0, "splits": SPLITS_NAME}):
            console.print(f"making the training corpus ({n_clips} clips: real text from the reference train "
                          f"splits, synthetic media) in {corpus} ...")
            shutil.rmtree(corpus, ignore_errors=True)
            make_reference_corpus(corpus, n_clips=n_clips)
    else:
        from affectgpt.data.demo_corpus import make_demo_corpus

        n_clips = n_clips or DEMO_CORPUS_CLIPS
        if not _made_with(corpus / MANIFEST_NAME, corpus / "clip_manifest.parquet", {"n_clips": n_clips, "seed": 0}):
            console.print(f"making the demo corpus ({n_clips} clips) in {corpus} ...")
            shutil.rmtree(corpus, ignore_errors=True)
            make_demo_corpus(corpus, n_clips=n_clips)
    return corpus


def _local_fixture(home: Path, per_set: int = FIXTURE_CLIPS_PER_SET) -> Path:
    """Made once into the workspace and reused while its fixture.json records the clip count,
    seed and selection asked for; another count is made afresh."""
    from affectgpt.bench.fixture import SELECTION
    from affectgpt.bench.testsets import FIXTURE_FILE

    fixture = home / "unibench-fixture"
    info = fixture / FIXTURE_FILE
    if not _made_with(info, info, {"per_dataset": per_set, "seed": 0, "selection": SELECTION}, section=None):
        from affectgpt.bench.fixture import make_fixture

        console.print(f"making the MER-UniBench fixture ({per_set} test clips per set: real labels "
                      f"and subtitles, SYNTHETIC media) in {fixture} ...")
        shutil.rmtree(fixture, ignore_errors=True)
        make_fixture(fixture, per_set)
    return fixture


def _made_with(record: Path, output: Path, wanted: dict[str, Any], section: str | None = "parameters") -> bool:
    """Whether `output` exists and `record` (a JSON file written after it) says it was made with
    the `wanted` values (under `section`, or at the top level)."""
    if not output.is_file() or not record.is_file():
        return False
    try:
        written = json.loads(record.read_text())
    except (OSError, ValueError):
        return False
    written = (written.get(section) or {}) if section else written
    return all(written.get(key) == value for key, value in wanted.items())


def _local_environment(home: Path) -> str:
    """Every step is a subprocess: give them one workspace and one MLflow store."""
    from affectgpt.paths import TRACKING_URI_ENV
    from affectgpt.paths import tracking_uri as resolve_tracking_uri

    os.environ["AFFECTGPT_HOME"] = str(home)
    tracking_uri = resolve_tracking_uri()  # after AFFECTGPT_HOME: the default store is <home>/mlflow.db
    os.environ[TRACKING_URI_ENV] = tracking_uri
    os.environ.setdefault("DS_ACCELERATOR", "cpu")
    return tracking_uri


def _print_retrain_summary(run, tracking_uri: str, model_name: str) -> None:
    report_dir = run.artifact_path("score", "bench_report")
    if report_dir and (report_dir / "report.json").is_file():
        from affectgpt.bench.report import print_report_json

        print_report_json(report_dir / "report.json", console)
    summary = Table(show_header=False, title="retrain run")
    summary.add_column(style="bold", no_wrap=True)
    summary.add_column()
    model_meta = run.artifact_metadata("train", "model")
    summary.add_row("MLflow run", str(model_meta.get("mlflow_run_id") or run.parameter("register", "run_id") or "-"))
    version, verdict = run.parameter("register", "version"), run.parameter("register", "verdict")
    summary.add_row("registered version", f"{model_name} v{version}" if version else "-")
    reasons = run.parameter("register", "reasons")
    summary.add_row("promotion gate", f"{verdict}" + (f": {reasons}" if reasons else "") if verdict else "-")
    console.print(summary)
    # Paths as plain `label: path` lines, never inside a table cell that would wrap them mid-word.
    dataset = run.artifact_path("build-dataset", "dataset")
    for label, path in (("dataset", dataset), ("model", run.artifact_path("train", "model")),
                        ("predictions", run.run_dir / "for-loop-*" / "predict" / "predictions"
                         if "predict" in run.tasks else None),
                        ("bench report", report_dir and report_dir / "report.html"),
                        ("step log", run.log_path)):
        say_path(label, path if path else "-")
    if tracking_uri.startswith("sqlite:///"):
        console.print(f"MLflow UI: [bold]mlflow ui --backend-store-uri {tracking_uri} --port 5000[/] "
                      "then open http://127.0.0.1:5000")
    else:
        console.print(f"MLflow UI: {tracking_uri}")


@pipeline_app.command("run")
@friendly_errors()
def run_command(
    name: str = typer.Argument(..., help="retrain | monitor (the -k8s variants need a cluster: `pipeline submit`)"),
    local_run: bool = typer.Option(False, "--local", help="run here with kfp.local (no Docker, no cluster)"),
    param: Params = None,
    root: Annotated[Path | None, typer.Option(help="where step outputs go (default: <workspace>/pipeline-runs)")] = None,
    n_clips: Annotated[int | None, typer.Option(
        min=1, help="training corpus size when no raw_dir is given (default: 300 clips of real train-split text; "
        "24 of the written demo sentences without the reference data)")] = None,
    fixture_clips: Annotated[int, typer.Option(
        min=1, help="MER-UniBench fixture clips per set when no unibench_dir is given")] = FIXTURE_CLIPS_PER_SET,
    verbose: bool = typer.Option(False, "--verbose", "-v", help="show every step's output, not only the log file"),
) -> None:
    """Run a compiled pipeline (src/affectgpt_kfp/pipelines/compiled/NAME.yaml, what a cluster runs) with kfp.local
    and print a summary (bench table, MLflow run and version, paths).

    With no inputs, `retrain` runs on the demo corpus with configs/tiny.yaml (CPU, minutes).
    Inputs are checked against the compiled pipeline (as `pipeline submit` checks them) and the
    files and folders they name must exist, before anything runs."""
    _check_name(name)
    if not local_run:
        _fail("only --local runs here; for a cluster use `affectgpt pipeline submit NAME --host URL`")
    from affectgpt.pipeline_inputs import check_arguments, check_local_paths, declared_inputs
    from affectgpt_kfp.pipelines.local_run import PipelineInputError, StepFailed, load_compiled, run_local

    try:
        pipeline = load_compiled(name)
    except PipelineInputError as exc:
        _fail(str(exc))
    package = _compiled_package(name)
    # Unknown, mistyped or out-of-choice inputs, and paths that do not exist here, are refused
    # before any work (no corpus is made, no step starts).
    params = _checked_arguments(name, package, param, filled_later=frozenset(LOCAL_DEFAULTS))
    check_local_paths(name, params)
    home = workspace_dir().resolve()
    tracking_uri = _local_environment(home)
    # monitor: the retrain it may launch gets the same local defaults as a direct one
    params = check_arguments(name, declared_inputs(package), _prepare_local_retrain(params, home, n_clips, fixture_clips))
    console.print(f"running [bold]{pipeline.name}[/] with kfp.local: "
                  + ", ".join(f"{k}={v}" for k, v in sorted(params.items())))
    try:
        run = run_local(pipeline, params, root or home / "pipeline-runs", echo=verbose)
    except StepFailed as exc:
        _fail(str(exc), ExitCode.BUG)  # a step failed: its log says why (exit 1, as before)
    model_name = str(params.get("model_name", "affectgpt"))
    if name.startswith("retrain"):
        _print_retrain_summary(run, tracking_uri, model_name)
    else:
        drift = run.artifact_path("drift-report", "report")
        retrain = bool(run.parameter("drift-report", "Output"))
        reasons = run.artifact_metadata("drift-report", "report").get("reasons") or "no threshold crossed"
        console.print(f"drift report: {drift / 'drift.html' if drift else '-'}\n"
                      f"retrain launched: {'yes' if retrain else 'no'} ({reasons})")
        if retrain:
            _print_retrain_summary(run, tracking_uri, model_name)


# ---------------------------------------------------------------- compile / submit / schedule


@pipeline_app.command("compile")
def compile_command(
    out: Annotated[Path | None, typer.Option(help="output folder (default: src/affectgpt_kfp/pipelines/compiled)")] = None,
    check: bool = typer.Option(False, help="exit 1 if the checked-in YAML differs from a fresh compile"),
) -> None:
    """Compile every pipeline to Kubeflow IR YAML."""
    import tempfile

    from affectgpt_kfp.pipelines import COMPILED_DIR
    from affectgpt_kfp.pipelines.compile import compile_all

    if check:
        with tempfile.TemporaryDirectory() as scratch:
            stale = [p.name for p in compile_all(Path(scratch))
                     if not (COMPILED_DIR / p.name).is_file() or (COMPILED_DIR / p.name).read_text() != p.read_text()]
        if stale:
            _fail(f"stale compiled pipelines: {', '.join(stale)}; run `affectgpt pipeline compile`", ExitCode.BUG)
        console.print("compiled pipelines are up to date")
        return
    for path in compile_all(out or COMPILED_DIR):
        console.print(f"wrote {path}")


def _checked_arguments(name: str, package: Path, param: list[str] | None,
                       filled_later: frozenset[str] = frozenset()) -> dict[str, Any]:
    """`--param` values checked by the one validator of `run --local`, `submit` and `schedule`
    (`pipeline_inputs.checked_arguments`): exit 2 before any work when an input is unknown,
    missing or of the wrong type."""
    from affectgpt.pipeline_inputs import checked_arguments, split_params

    return checked_arguments(name, package, split_params(param), filled_later=set(filled_later))


def _checked_job_shape(name: str, package: Path, arguments: dict[str, Any], node_gpus: int | None) -> None:
    """The PyTorchJob a cluster pipeline would launch, checked as `cluster train-job` checks one
    (`pipeline_inputs.check_job_shape`): exit 2 before anything is sent."""
    from affectgpt.cluster.job_shape import node_gpus_from_env
    from affectgpt.pipeline_inputs import check_job_shape

    check_job_shape(name, package, arguments, node_gpus_from_env() if node_gpus is None else node_gpus)


@pipeline_app.command("submit")
@friendly_errors()
def submit_command(
    name: str = typer.Argument(..., help="retrain | retrain-k8s | monitor"),
    host: str = typer.Option(..., help="Kubeflow Pipelines API, e.g. http://ml-pipeline.kubeflow:8888"),
    param: Params = None,
    experiment: str = typer.Option(DEFAULT_EXPERIMENT),
    namespace: str | None = typer.Option(None, help="profile namespace (multi-user Kubeflow)"),
    service_account: str | None = typer.Option(None),
    run_name: str | None = typer.Option(None),
    node_gpus: NodeGpus = None,
) -> None:
    """Start one run of a compiled pipeline (inputs checked against it first, and the PyTorchJob
    of a cluster pipeline as `cluster train-job` checks one: exit 2).

    Auth: KFP_TOKEN / KFP_COOKIES or the in-cluster token. The submitter (checked with the MLflow server when MLFLOW_TRACKING_URI
    names one with a login) is recorded in the run name and as the `submitted_by` argument of
    pipelines that take it: the registry names them the candidate's author."""
    from affectgpt_kfp.pipelines.cluster_client import submit_run, submitter

    package = _compiled_package(_check_name(name))
    arguments = _checked_arguments(name, package, param, filled_later=frozenset({"submitted_by"}))
    _checked_job_shape(name, package, arguments, node_gpus)
    try:
        who = submitter()
    except Exception as exc:  # noqa: BLE001 (refused credentials: one line)
        _fail(f"could not check who is submitting: {_short(exc)}", ExitCode.UNAVAILABLE)
    if "submitted_by" in _pipeline_inputs(package):
        arguments.setdefault("submitted_by", who)
    run_name = run_name or f"{package.stem} by {who}"
    try:
        submitted = submit_run(host, package, arguments,
                               experiment=experiment, run_name=run_name, namespace=namespace,
                               service_account=service_account)
    except AffectgptError:
        raise  # already one line (the address is not the KFP API, refused the connection, ...)
    except Exception as exc:  # noqa: BLE001 (401/403, bad inputs: one line, no traceback)
        _fail(f"could not submit {name} to {host}: {_short(exc)}", _service_code(exc))
    console.print(f"submitted {name}: run {submitted.id}\n{submitted.url}")


def _pipeline_inputs(package: Path) -> set[str]:
    """The parameter names a compiled pipeline declares."""
    from affectgpt.pipeline_inputs import declared_inputs

    return set(declared_inputs(package))


@pipeline_app.command("schedule")
@friendly_errors()
def schedule_command(
    name: str = typer.Argument(..., help="retrain | retrain-k8s | monitor"),
    host: str = typer.Option(..., help="Kubeflow Pipelines API URL"),
    cron: str = typer.Option(..., help="cron expression, 5 fields ('0 3 * * *') or 6 with seconds first"),
    param: Params = None,
    experiment: str = typer.Option(DEFAULT_EXPERIMENT),
    job_name: str | None = typer.Option(None, help="recurring run name (default: affectgpt-NAME)"),
    namespace: str | None = typer.Option(None),
    max_concurrency: int = typer.Option(1, min=1),
    service_account: str | None = typer.Option(None),
    node_gpus: NodeGpus = None,
) -> None:
    """Create a recurring run of a compiled pipeline (inputs, cron and the PyTorchJob of a cluster
    pipeline checked first, exit 2)."""
    from affectgpt.pipeline_inputs import kfp_cron
    from affectgpt_kfp.pipelines.cluster_client import schedule_run

    package = _compiled_package(_check_name(name))
    six_field_cron = kfp_cron(cron)
    arguments = _checked_arguments(name, package, param)
    _checked_job_shape(name, package, arguments, node_gpus)
    try:
        submitted = schedule_run(host, package, arguments, cron=six_field_cron,
                                 experiment=experiment, job_name=job_name or f"affectgpt-{name}",
                                 namespace=namespace, max_concurrency=max_concurrency,
                                 service_account=service_account)
    except AffectgptError:
        raise
    except Exception as exc:  # noqa: BLE001 (as in submit)
        _fail(f"could not schedule {name} on {host}: {_short(exc)}", _service_code(exc))
    console.print(f"scheduled {name} ({cron}): recurring run {submitted.id}\n{submitted.url}")


# ---------------------------------------------------------------- runs / status


@pipeline_app.command("runs")
@friendly_errors()
def runs_command(
    host: str = typer.Option(..., help="Kubeflow Pipelines API URL"),
    experiment: str | None = typer.Option(None, help="only this experiment's runs (by name)"),
    limit: int = typer.Option(20, min=1, help="newest N runs"),
    namespace: str | None = typer.Option(None, help="profile namespace (multi-user Kubeflow)"),
    as_json: bool = typer.Option(False, "--json", help="print JSON instead of a table"),
) -> None:
    """List the newest runs on a Kubeflow Pipelines server: id, name, state, created, finished."""
    from affectgpt.pipeline_runs import list_runs

    rows = list_runs(host, experiment=experiment, limit=limit, namespace=namespace)
    if as_json:
        sys.stdout.write(json.dumps([row.to_dict() for row in rows], indent=2) + "\n")
        return
    table = Table(title=f"runs on {host}" + (f", experiment {experiment}" if experiment else ""))
    for column in ("run id", "name", "state", "created", "finished"):
        table.add_column(column, no_wrap=column in ("run id", "created", "finished"), overflow="fold")
    for row in rows:
        table.add_row(row.run_id, row.name, _state(row.state), row.created or "-", row.finished or "-")
    console.print(table)
    if not rows:
        console.print("no runs")


@pipeline_app.command("status")
@friendly_errors()
def status_command(
    run_id: str = typer.Argument(..., help="the run id `pipeline submit` or `pipeline runs` printed"),
    host: str = typer.Option(..., help="Kubeflow Pipelines API URL"),
    namespace: str | None = typer.Option(None, help="profile namespace (multi-user Kubeflow)"),
    as_json: bool = typer.Option(False, "--json", help="print JSON instead of tables"),
) -> None:
    """One run's state and the state of each of its tasks."""
    from affectgpt.pipeline_runs import get_run

    row = get_run(host, run_id, namespace=namespace)
    if as_json:
        sys.stdout.write(json.dumps(row.to_dict(), indent=2) + "\n")
        return
    summary = Table(show_header=False, title=f"run {row.run_id}")
    summary.add_column(style="bold", no_wrap=True)
    summary.add_column(overflow="fold")
    for label, value in (("name", row.name), ("state", _state(row.state)), ("created", row.created),
                         ("finished", row.finished), ("error", row.error)):
        if value or label != "error":
            summary.add_row(label, value or "-")
    console.print(summary)
    if row.tasks:
        tasks = Table(title="tasks")
        for column in ("task", "state", "started", "finished"):
            tasks.add_column(column, no_wrap=column != "task")
        for task in row.tasks:
            tasks.add_row(task.name, _state(task.state), task.started or "-", task.finished or "-")
        console.print(tasks)
    else:
        console.print("no task has started yet")


STATE_STYLES = {"SUCCEEDED": "green", "FAILED": "red", "CANCELED": "yellow", "RUNNING": "cyan", "PENDING": "cyan"}


def _state(state: str) -> str:
    style = STATE_STYLES.get(state)
    return f"[{style}]{state}[/]" if style else state


def _service_code(exc: Exception) -> int:
    """The documented code for a server's answer, as every command gives it
    (`service_errors.error_kind`): 401 bad input (2), 403 refused (3), 404 not found (4), another
    4xx bad input (2); no answer or a 5xx is unavailable (5)."""
    from affectgpt.service_errors import error_kind

    status = int(getattr(exc, "status", 0) or 0)
    return int(error_kind(status).exit_code) if status else int(ExitCode.UNAVAILABLE)


def _short(exc: Exception) -> str:
    status = getattr(exc, "status", None)
    reason = getattr(exc, "reason", None)
    if status:
        return f"HTTP {status} {reason or ''}".strip()
    return f"{type(exc).__name__}: {str(exc).splitlines()[0][:300] if str(exc) else ''}"


# ---------------------------------------------------------------- cluster


@cluster_app.command("train-job")
@friendly_errors()
def train_job_command(
    config: str = typer.Option(..., help="model config inside the pod: a packaged config's name (affectgpt-7b.yaml) "
                                    "or a path on the data volume"),
    data: str = typer.Option(..., help="training data folder on the data volume (e.g. /data/datasets/v3)"),
    out: str = typer.Option(..., help="output folder on the data volume"),
    name: str = typer.Option("affectgpt-train", help="job name (DNS label)"),
    nodes: int = typer.Option(1, min=1, help="pods (the first is the Master)"),
    gpus_per_node: int = typer.Option(8, min=0, help="0 trains on CPU; at most --node-gpus"),
    node_gpus: NodeGpus = None,
    cpu: str = typer.Option("32", help="CPU request of each pod"),
    memory: str = typer.Option("256Gi", help="memory request of each pod"),
    memory_limit: str = typer.Option("512Gi", help="memory limit of each pod"),
    shm_size: str = typer.Option("64Gi", help="/dev/shm of each pod (NCCL, data loaders)"),
    namespace: str = typer.Option("affectgpt"),
    image: str = typer.Option("", help="default: the platform image of this code (content tag, `make images`)"),
    submit: bool = typer.Option(False, help="submit and follow it (kubeconfig or in-cluster token)"),
    timeout_s: float = typer.Option(48 * 3600),
) -> None:
    """Print the PyTorchJob YAML for `affectgpt train` under DeepSpeed on NODES x GPUS, or submit it.

    Checked first, as training would check them (exit 2, the rule in the message; nothing is
    printed or sent): GPUS per node at most the GPUs of one node of the pool (--node-gpus; a
    bigger pod is never scheduled), the config (loaded by the trainer's loader: a packaged
    name, ./configs/NAME or a file; exit 4 when it is none of these), its global batch at NODES x
    GPUS ranks, and CPUs and /dev/shm per rank of each pod. A config path on the data volume
    that is not mounted here is checked by the job when it starts."""
    import yaml
    from pydantic import ValidationError

    from affectgpt.cluster import ManifestInvalid, TrainJobSpec, build_pytorchjob, run_training_job

    _check_train_job(config, nodes, gpus_per_node, cpu=cpu, shm_size=shm_size, node_gpus=node_gpus,
                     data_mount=TrainJobSpec.model_fields["data_mount"].default)
    try:
        spec = TrainJobSpec(name=name, namespace=namespace, config_path=config, data_dir=data, out_dir=out,
                            nodes=nodes, gpus_per_node=gpus_per_node, cpu=cpu, memory=memory,
                            memory_limit=memory_limit, shm_size=shm_size, **({"image": image} if image else {}))
        job = build_pytorchjob(spec)
    except ValidationError as exc:
        _fail("; ".join(f"--{'-'.join(str(p) for p in e['loc']).replace('_', '-')}: {e['msg']}" for e in exc.errors()))
    except ManifestInvalid as exc:
        _fail(str(exc))
    if not submit:
        sys.stdout.write(yaml.safe_dump(job, sort_keys=False))
        return
    from affectgpt.cluster.launcher import TrainingJobFailed

    try:
        status = run_training_job(spec, timeout_s=timeout_s, on_status=lambda s: console.print(s.line()),
                                  on_log=lambda line: console.print(f"  | {line}", highlight=False))
    except TrainingJobFailed as exc:
        _fail(str(exc), ExitCode.BUG)  # the job ran and failed: exit 1, as before
    except Exception as exc:  # noqa: BLE001 (kubeconfig missing, API refused: one line, no traceback)
        _fail(f"could not run the job: {_short(exc)}", ExitCode.UNAVAILABLE)
    console.print(f"[green]{status.line()}[/]")


def _check_train_job(config: str, nodes: int, gpus_per_node: int, *, cpu: str, shm_size: str,
                     node_gpus: int | None, data_mount: str) -> None:
    """Refuse a job that training would refuse, here and not an hour into the job (after the
    GPUs were allocated): the job's shape (`affectgpt.cluster.job_shape`: GPUs per pod within
    a node of the pool, a global batch the world size can make), a config that does not load,
    a pod too small for its ranks (`cluster preflight`'s per-rank rule; the memory rule, which
    counts the model's parameters, is left to `cluster preflight`)."""
    from affectgpt.cluster.job_shape import (
        NODE_GPUS_SOURCES,
        gpus_per_node_problem,
        node_gpus_from_env,
        world_size_problem,
    )
    from affectgpt.cluster.preflight import pod_size_shortfalls
    from affectgpt.errors import BadInput
    from affectgpt.model.config import load_config
    from affectgpt.paths import resolve_config

    node_gpus = node_gpus_from_env() if node_gpus is None else node_gpus
    too_many = gpus_per_node_problem(gpus_per_node, node_gpus)
    if too_many:
        raise BadInput(f"--gpus-per-node: {too_many} ({NODE_GPUS_SOURCES})")
    ranks_per_pod = max(gpus_per_node, 1)
    path = resolve_config(config)
    if not path.is_file() and Path(config).is_absolute() and Path(config).is_relative_to(data_mount):
        err_console.print(f"[dim]config {config}: on the data volume, not mounted here; the job checks it "
                          "when it starts[/]", highlight=False)
    else:
        cfg = load_config(config)  # the trainer's loader: not found (4), malformed (2)
        batch = world_size_problem(cfg.train, nodes, gpus_per_node)
        if batch:
            raise BadInput(f"{config} on {batch}")
    try:
        short = pod_size_shortfalls({"cpu": cpu, "shm_size": shm_size}, ranks_per_pod, None)
    except ValueError as exc:
        raise BadInput(f"--cpu/--shm-size: {exc}") from None
    if short:
        flags = {"cpu": "--cpu", "shm_size": "--shm-size"}
        raise BadInput("; ".join(f"{flags[s.field]} is too small for {ranks_per_pod} rank(s) per pod: needs >= "
                                 f"{s.need} ({s.rule})" for s in short)
                       + "; raise it or lower --gpus-per-node")


@cluster_app.command("preflight")
@friendly_errors()
def preflight_command(
    overlay: Annotated[Path, typer.Option("--overlay", help="kustomize overlay folder, e.g. "
                                                             "infra/overlays/gpu-cluster")],
    pipelines: Annotated[Path | None, typer.Option("--pipelines", help="folder of compiled pipelines (default: the "
                                                                       "IR shipped with the package, a checkout's "
                                                                       "src/affectgpt_kfp/pipelines/compiled)")] = None,
    config: str | None = typer.Option(None, "--config", help="model config, a packaged name or a file (default: "
                                                            "the cluster pipeline's model_config default)"),
    kfp_mode: str | None = typer.Option(None, "--kfp-mode", help="multi-user | standalone (default: multi-user "
                                                                "when the overlay ships a Kubeflow Profile)"),
    namespace: str | None = typer.Option(None, "--namespace", help="where KFP runs the steps (default: the "
                                                                  "Profile's namespace, or kubeflow)"),
    check: Annotated[list[str] | None, typer.Option("--check", help="run only this check (repeatable; ids "
                                                                   "below)")] = None,
    operator: Annotated[Path | None, typer.Option("--operator", help="the Training Operator's configuration "
                                                                     "(default: infra/operator beside the overlays)")] = None,
    as_json: bool = typer.Option(False, "--json", help="print JSON instead of a table"),
) -> None:
    """Check that an overlay, the compiled pipelines and the model config work together on a
    real Kubeflow cluster, before any run and without a cluster. The overlay is rendered with
    `kubectl kustomize`; the checks:

    schema: every object against the Kubernetes schemas and the PyTorchJob CRD;
    data: every path a step reads is on a volume it mounts;
    workspace: every step has a writable AFFECTGPT_HOME;
    weights: weight-loading pods and the training job mount the models PVC, HF_HOME on it;
    world-size: the config's batch works at 1, 8, 16 and the default ranks;
    job-size: the train step's PyTorchJob is sized for the model and fits a node of the pool;
    cleanup: a cancelled or failed run deletes its PyTorchJob (an uncached exit handler);
    pod-security: restricted PSS on the pods the Training Operator and KFP create;
    rbac: the KFP runner account may do what the steps do;
    caching: side-effecting steps are never cached;
    images: the project's images are immutable (digest or src-<hex>);
    standing-jobs: the overlay starts no training (PyTorchJob, GPU Job);
    namespaces: every namespaced object has one, RWX claims a storage class;
    schedule: the recurring run authenticates, passes the test sets, nests the multi-GPU retrain.

    Exit 0 when all pass, 3 when any fails, 2 when the inputs cannot be read.
    docs/platform.md ("Preflight") says what the checks cannot see."""
    from affectgpt.cluster.preflight import CHECKS, PreflightError, load_inputs, run_checks
    from affectgpt.paths import ConfigNotFound, resolve_config

    existing(overlay, "--overlay", "folder")
    existing(pipelines, "--pipelines", "folder")
    existing(operator, "--operator", "folder")
    if config is not None and not resolve_config(config).is_file():
        raise ConfigNotFound(f"--config {config}: neither a file nor a packaged config")
    unknown = sorted(set(check or ()) - {c.id for c in CHECKS})
    if unknown:
        _fail(f"--check {', '.join(unknown)}: unknown; choose from {', '.join(c.id for c in CHECKS)}")
    try:
        inputs = load_inputs(overlay, pipelines, config, kfp_mode, namespace, operator)
    except PreflightError as exc:
        _fail(str(exc))
    results = run_checks(inputs, set(check) if check else None)
    failed = [r for r in results if not r.ok]
    if as_json:
        sys.stdout.write(json.dumps({
            "overlay": str(overlay), "kfp": {"mode": inputs.kfp.mode, "namespace": inputs.kfp.namespace,
                                             "runner": inputs.kfp.runner},
            "config": inputs.config_name, "pipelines": sorted(inputs.pipelines), "ok": not failed,
            "checks": [r.to_dict() for r in results]}, indent=2) + "\n")
    else:
        table = Table(title=f"preflight {overlay} ({inputs.kfp.describe()}; config {inputs.config_name}; "
                            f"pipelines {', '.join(sorted(inputs.pipelines))})")
        table.add_column("check", no_wrap=True)
        table.add_column("status", no_wrap=True)
        table.add_column("where", overflow="fold")
        table.add_column("detail", overflow="fold")
        for result in results:
            if result.ok:
                table.add_row(result.check, "[green]ok[/]", "", result.title)
            for finding in result.findings:
                table.add_row(result.check, "[red]FAIL[/]", finding.where, f"{finding.problem}; fix: {finding.fix}")
        console.print(table)
        findings = sum(len(r.findings) for r in failed)
        console.print(f"[red]{findings} finding(s) in {len(failed)} of {len(results)} checks[/]" if failed
                      else f"[green]all {len(results)} checks pass[/]")
    if failed:
        raise typer.Exit(int(ExitCode.REFUSED))


def register(app: typer.Typer) -> None:
    app.add_typer(pipeline_app, name="pipeline")
    app.add_typer(cluster_app, name="cluster")
