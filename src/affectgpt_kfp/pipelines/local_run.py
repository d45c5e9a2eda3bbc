"""Run a compiled pipeline on this machine with `kfp.local` (one subprocess per step, no
Docker) and collect what it produced: each task's outputs and, on failure, the failing step's
own error instead of kfp's traceback.

What runs is the checked-in IR (`src/affectgpt_kfp/pipelines/compiled/NAME.yaml`), the very file a cluster is
given: the same tasks, fan-out, retries and collection, so a local run proves the cluster's
graph, not a look-alike (kfp.local ignores what only a cluster has: images, volumes, resources).
Steps run in the current interpreter (`use_venv=False`) with no runtime installs, so they see
exactly the affectgpt installed here, each in its own fresh process as in a pod. One kfp.local
defect is put right for the run (`_loop_inputs_as_compiled`): a `dsl.ParallelFor` body that also
reads another task's output parameter gets that output, as on a cluster, not the loop item.
"""

import contextlib
import io
import json
import logging
import os
import re
import sys
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kfp import components, local

from affectgpt.signals import stop_on_signals
from affectgpt_kfp.pipelines import COMPILED_DIR

FAILED_TASK = re.compile(r"(?:Task '([^']+)' finished with status .*FAILURE|Inner task failed: '([^']+)')")
ANSI = re.compile(r"\x1b\[[0-9;]*m")
ERROR_LINE = re.compile(r"^([A-Za-z_][\w.]*(?:Error|Exception|Invalid|Missing|Failed)\w*): (.+)$")


class StepFailed(RuntimeError):
    """A pipeline step failed; `step` names it and the message is the step's own error."""

    def __init__(self, step: str, error: str, log_path: Path):
        super().__init__(f"step '{step}' failed: {error}\n(full log: {log_path})")
        self.step, self.error, self.log_path = step, error, log_path


@dataclass
class LocalRun:
    pipeline: str
    run_dir: Path
    log_path: Path
    output: Any = None
    tasks: dict[str, dict[str, Any]] = field(default_factory=dict)

    def artifact_path(self, task: str, name: str) -> Path | None:
        """Where a task's output artifact was written (None when the task did not run)."""
        for artifact in self.tasks.get(task, {}).get("artifacts", {}).get(name, {}).get("artifacts", []):
            return Path(artifact["uri"])
        return None

    def artifact_metadata(self, task: str, name: str) -> dict[str, Any]:
        for artifact in self.tasks.get(task, {}).get("artifacts", {}).get(name, {}).get("artifacts", []):
            return artifact.get("metadata", {})
        return {}

    def parameter(self, task: str, name: str) -> Any:
        return self.tasks.get(task, {}).get("parameterValues", {}).get(name)


PROGRESS = re.compile(r"^\d\d:\d\d:\d\d\.\d+ - \w+ - ((?:Running pipeline|Executing task|Task '[^']+' finished)[^\n]*)")


class _Tee(io.TextIOBase):
    """Writes everything to the log file; to the console goes everything (`echo`) or only the
    step progress lines (a task started, a task finished and how)."""

    def __init__(self, log, echo: bool):
        self.log, self.echo, self.pending = log, echo, ""

    def write(self, text: str) -> int:
        self.log.write(text)
        if "\n" in text:  # the log is read while the run goes on (a training step runs for hours)
            self.log.flush()
        if self.echo:
            sys.__stdout__.write(text)
            return len(text)
        self.pending += text
        *lines, self.pending = self.pending.split("\n")
        for line in lines:
            if match := PROGRESS.match(ANSI.sub("", line)):
                sys.__stderr__.write(f"  {match.group(1)}\n")
        return len(text)

    def flush(self) -> None:
        self.log.flush()


def _failed_step(text: str) -> str | None:
    """The innermost failed task kfp names (its message lists the chain, outermost first)."""
    found = [a or b for a, b in FAILED_TASK.findall(ANSI.sub("", text))]
    return found[-1] if found else None


def _step_error(log_text: str) -> str | None:
    """The step's own exception: the last `module.SomethingError: message` line of its output."""
    errors = [m.group(0) for line in ANSI.sub("", log_text).splitlines() if (m := ERROR_LINE.match(line.strip()))]
    return errors[-1] if errors else None


# A torch.distributed rendezvous set up earlier in this process (an in-process training run)
# must not leak into the steps: each step's trainer picks its own free port (`_step_environment`).
DISTRIBUTED_ENV = ("MASTER_ADDR", "MASTER_PORT", "RANK", "LOCAL_RANK", "WORLD_SIZE", "LOCAL_WORLD_SIZE")


@contextlib.contextmanager
def _step_environment():
    """What every step process inherits for the run: no rendezvous of this process, and
    unbuffered output. A step's stdout is a pipe kfp.local reads line by line; block-buffered,
    what a step prints (a library's messages, a component's own lines) would reach the log only
    when 8 KiB piled up or the step ended, hours later for training."""
    saved = {key: os.environ.pop(key) for key in DISTRIBUTED_ENV if key in os.environ}
    unbuffered = os.environ.get("PYTHONUNBUFFERED")
    os.environ["PYTHONUNBUFFERED"] = "1"
    try:
        yield
    finally:
        os.environ.update(saved)
        if unbuffered is None:
            os.environ.pop("PYTHONUNBUFFERED", None)
        else:
            os.environ["PYTHONUNBUFFERED"] = unbuffered


# Pipelines whose training runs as a PyTorchJob on a cluster: nothing here can serve them.
CLUSTER_ONLY = {"retrain-k8s": "retrain", "monitor-k8s": "monitor"}


class PipelineInputError(ValueError):
    """A pipeline that cannot run here: not compiled, or one that trains on a cluster."""


def load_compiled(name: str, compiled_dir: Path = COMPILED_DIR):
    """The pipeline compiled as `name` (a kfp pipeline component), refused when it needs a cluster."""
    if name in CLUSTER_ONLY:
        raise PipelineInputError(f"{name} trains through a PyTorchJob on a Kubernetes cluster; run "
                                 f"`{CLUSTER_ONLY[name]}` here, or submit {name} with `affectgpt pipeline submit`")
    path = Path(compiled_dir) / f"{name}.yaml"
    if not path.is_file():
        raise PipelineInputError(f"{path}: no compiled pipeline {name!r}; run `affectgpt pipeline compile`")
    return components.load_component_from_file(str(path))


@contextlib.contextmanager
def _loop_inputs_as_compiled():
    """kfp.local (2.17) gives a `dsl.ParallelFor` body the loop item for EVERY upstream task
    output parameter the loop receives, not only for the list it iterates over
    (`task_spec_utils.create_parameter_loop_iteration_task_spec`): the build shards, which read
    the folder `pull_data` returns, would be handed a shard number for a path. A cluster
    resolves those inputs as the IR says; for the run, each iteration keeps them as compiled,
    and kfp.local resolves them from their producers as it does for any task. Where kfp.local
    lacks the function (a later release), nothing is changed."""
    from kfp.local.orchestrator import task_spec_utils

    original = getattr(task_spec_utils, "create_parameter_loop_iteration_task_spec", None)
    if original is None:
        yield
        return

    def iteration_spec(task_spec, loop_item, loop_task_name):
        spec = original(task_spec, loop_item, loop_task_name)
        iterated = (task_spec.parameter_iterator.items.input_parameter
                    if task_spec.WhichOneof("iterator") == "parameter_iterator" else "")
        for name, given in task_spec.inputs.parameters.items():
            if given.HasField("task_output_parameter") and name != iterated:
                spec.inputs.parameters[name].CopyFrom(given)
        return spec

    task_spec_utils.create_parameter_loop_iteration_task_spec = iteration_spec
    try:
        yield
    finally:
        task_spec_utils.create_parameter_loop_iteration_task_spec = original


@contextlib.contextmanager
def _root_logging_restored():
    """kfp.local logs through the root logger with module-level `logging.info`, which installs a
    handler on a handler-less root (`basicConfig`) bound to the stderr of that moment; in-process
    callers (a notebook, a test runner) swap their streams between runs, so a handler left behind
    would later write into a closed one. The root's handlers after a run are those before it."""
    root = logging.getLogger()
    before, placeholder = root.handlers[:], logging.NullHandler()
    if not before:
        root.addHandler(placeholder)  # a root with a handler is never basicConfig-ed
    try:
        yield
    finally:
        root.handlers[:] = before


def run_local(pipeline_func: Callable, arguments: dict[str, Any], pipeline_root: Path, *,
              echo: bool = False) -> LocalRun:
    """Run `pipeline_func(**arguments)` under kfp.local; raise StepFailed naming the step.
    `pipeline_func` is a compiled pipeline (`load_compiled`) or a `dsl.pipeline` function."""
    pipeline_root = Path(pipeline_root).resolve()
    pipeline_root.mkdir(parents=True, exist_ok=True)
    local.init(runner=local.SubprocessRunner(use_venv=False), pipeline_root=str(pipeline_root),
               raise_on_error=True)
    name = pipeline_func.name
    before = set(pipeline_root.glob(f"{name}-*"))
    log_path = pipeline_root / f"{name}-latest.log"
    with open(log_path, "w") as log:
        tee = _Tee(log, echo)
        try:
            # stop_on_signals: a SIGTERM to this process is passed on to the running step, which ends
            # its MLflow run as KILLED and removes its scratch folders, and this process waits for it.
            with contextlib.redirect_stdout(tee), warnings.catch_warnings(), _step_environment(), \
                    _root_logging_restored(), _loop_inputs_as_compiled(), stop_on_signals():
                # kfp.local notes that resource requests and our platform image do not apply here: by design.
                warnings.filterwarnings("ignore", module=r"kfp\.local\..*")
                task = pipeline_func(**arguments)
        except RuntimeError as exc:  # kfp's "Pipeline ... FAILURE": report the step and its own error
            step = _failed_step(str(exc))
            if step is None:
                raise
            log.flush()
            error = _step_error(log_path.read_text()) or ANSI.sub("", str(exc))
            raise StepFailed(step, error, log_path) from None
    new_runs = sorted(set(pipeline_root.glob(f"{name}-*")) - before - {log_path})
    run_dir = new_runs[-1] if new_runs else pipeline_root
    run = LocalRun(name, run_dir, log_path, output=getattr(task, "output", None) if task is not None else None)
    for executor_output in sorted(run_dir.rglob("executor_output.json")):
        run.tasks[executor_output.parent.name] = json.loads(executor_output.read_text())
    return run
