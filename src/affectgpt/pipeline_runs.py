"""Runs on a Kubeflow Pipelines server, as rows a person reads (`pipeline runs`, `pipeline status`).

The kfp client returns `kfp_server_api` models; this module turns them into plain rows (ids,
names, states, times) so the CLI can print a table or JSON, and maps a server that does not
answer to `Unavailable` (exit 5) and an unknown run or experiment to `NotFound` (exit 4). The
client itself comes from `affectgpt_kfp.pipelines.cluster_client` (the one place kfp auth is read), imported
only when a command runs, like `kfp_server_api` here: importing this module imports neither
(no library module imports kfp; tests/test_import_layers.py holds that).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from affectgpt.errors import NotFound, Unavailable


@dataclass
class TaskRow:
    name: str
    state: str
    started: str
    finished: str


@dataclass
class RunRow:
    run_id: str
    name: str
    state: str
    created: str
    finished: str
    experiment_id: str = ""
    error: str = ""
    tasks: list[TaskRow] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _when(value: datetime | None) -> str:
    """ISO time in UTC to the second; KFP reports an unset time as the epoch."""
    if value is None or value.year <= 1970:
        return ""
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


def _row(run: Any, with_tasks: bool = False) -> RunRow:
    error = getattr(run, "error", None)
    row = RunRow(run_id=run.run_id or "", name=run.display_name or "", state=str(run.state or "UNKNOWN"),
                 created=_when(run.created_at), finished=_when(run.finished_at),
                 experiment_id=run.experiment_id or "", error=(error.message or "") if error else "")
    details = getattr(run, "run_details", None)
    if with_tasks and details is not None:
        row.tasks = [TaskRow(task.display_name or task.task_id or "", str(task.state or "UNKNOWN"),
                             _when(task.start_time or task.create_time), _when(task.end_time))
                     for task in details.task_details or []]
    return row


def _call(host: str, what: str, action):
    """Run one client call; HTTP 404 on a named thing is NotFound; no answer (refused, timeout)
    is one line saying which (`affectgpt.service_errors`)."""
    from kfp_server_api.exceptions import ApiException
    from urllib3.exceptions import HTTPError

    from affectgpt.service_errors import service_error

    try:
        return action()
    except ApiException as exc:
        if exc.status == 404:
            raise NotFound(f"{what}: not found on {host}") from None
        raise Unavailable(f"{what}: {host} answered HTTP {exc.status} {exc.reason or ''}".strip()) from None
    except (HTTPError, OSError) as exc:
        raise (service_error("KFP API", host, exc, "check --host")
               or Unavailable(f"{what}: the KFP API at {host} did not answer ({type(exc).__name__}); "
                              "check --host and that you can reach it")) from None


def list_runs(host: str, experiment: str | None = None, limit: int = 20,
              namespace: str | None = None) -> list[RunRow]:
    """The newest `limit` runs, optionally of one experiment (by name)."""
    from affectgpt_kfp.pipelines.cluster_client import kfp_client

    client = _call(host, "connect", lambda: kfp_client(host, namespace))
    experiment_id = None
    if experiment:
        try:
            found = _call(host, f"experiment {experiment!r}",
                          lambda: client.get_experiment(experiment_name=experiment, namespace=namespace))
        except ValueError:  # kfp's answer when no (or more than one) experiment has the name
            raise NotFound(f"experiment {experiment!r}: not found on {host}; "
                           "`affectgpt pipeline runs --host URL` lists runs of every experiment") from None
        experiment_id = found.experiment_id
    response = _call(host, "list runs", lambda: client.list_runs(page_size=limit, sort_by="created_at desc",
                                                                 experiment_id=experiment_id, namespace=namespace))
    return [_row(run) for run in response.runs or []]


def get_run(host: str, run_id: str, namespace: str | None = None) -> RunRow:
    """One run with the state of each of its tasks."""
    from affectgpt_kfp.pipelines.cluster_client import kfp_client

    client = _call(host, "connect", lambda: kfp_client(host, namespace))
    return _row(_call(host, f"run {run_id}", lambda: client.get_run(run_id)), with_tasks=True)
