"""Submit a PyTorchJob with the `kubernetes` client, follow it to the end, stream what happens.

Status comes from the job's conditions (Created, Running, Restarting, Succeeded, Failed) as the
Training Operator writes them; progress lines come from the Master pod's log. Submitting a job
whose name exists re-attaches to it instead of failing, so a retried pipeline step follows the
job already running rather than starting a second one.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from kubernetes import client, config
from kubernetes.client.rest import ApiException

GROUP, VERSION, PLURAL = "kubeflow.org", "v1", "pytorchjobs"
TERMINAL_PHASES = ("Succeeded", "Failed")


class TrainingJobFailed(RuntimeError):
    """The job ended Failed (or timed out); the message carries the reason and the log tail."""


@dataclass
class JobStatus:
    name: str
    phase: str  # Pending | Created | Running | Restarting | Succeeded | Failed
    message: str = ""
    replicas: dict[str, dict[str, int]] = field(default_factory=dict)

    def line(self) -> str:
        counts = ", ".join(
            f"{kind}: " + " ".join(f"{k}={v}" for k, v in sorted(state.items()))
            for kind, state in sorted(self.replicas.items())
        )
        return f"{self.name}: {self.phase}" + (f" ({self.message})" if self.message else "") + (
            f" [{counts}]" if counts else "")


def kube_api_client() -> client.ApiClient:
    """In a pod: the service account's token; elsewhere: the current kubeconfig context."""
    if os.environ.get("KUBERNETES_SERVICE_HOST"):
        config.load_incluster_config()
    else:
        config.load_kube_config()
    return client.ApiClient()


def job_status(job: dict[str, Any]) -> JobStatus:
    """Phase = the latest condition whose status is "True" (the operator appends them in order)."""
    status = job.get("status") or {}
    phase, message = "Pending", ""
    for condition in status.get("conditions") or []:
        if condition.get("status") == "True":
            phase, message = condition.get("type", phase), condition.get("message", "")
    replicas = {kind: {k: v for k, v in state.items() if isinstance(v, int)}
                for kind, state in (status.get("replicaStatuses") or {}).items()}
    return JobStatus(job["metadata"]["name"], phase, message, replicas)


def submit_job(job: dict[str, Any], api_client: client.ApiClient) -> dict[str, Any]:
    """Create the job. If one of that name exists it is the same work (names derive from the
    inputs): follow it, unless it Failed, in which case delete it and start again."""
    api = client.CustomObjectsApi(api_client)
    namespace, name = job["metadata"]["namespace"], job["metadata"]["name"]
    try:
        return api.create_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, job)
    except ApiException as exc:
        if exc.status != 409:
            raise _api_error(exc, f"create PyTorchJob {namespace}/{name}") from exc
    existing = api.get_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name)
    if job_status(existing).phase != "Failed":
        return existing
    api.delete_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name,
                                        body=client.V1DeleteOptions(propagation_policy="Foreground"))
    try:
        return api.create_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, job)
    except ApiException as exc:
        raise _api_error(exc, f"re-create PyTorchJob {namespace}/{name} after its failed run") from exc


def delete_unfinished_jobs(label_selector: str, namespace: str, api_client: client.ApiClient) -> list[str]:
    """Delete the jobs matching `label_selector` that are not Succeeded or Failed; returns their names."""
    api = client.CustomObjectsApi(api_client)
    try:
        listed = api.list_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, label_selector=label_selector)
    except ApiException as exc:
        raise _api_error(exc, f"list PyTorchJobs {namespace}/{label_selector}") from exc
    deleted = []
    for job in listed.get("items", []):
        if job_status(job).phase in TERMINAL_PHASES:
            continue
        name = job["metadata"]["name"]
        try:
            api.delete_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name,
                                                body=client.V1DeleteOptions(propagation_policy="Foreground"))
        except ApiException as exc:
            if exc.status != 404:  # gone already: what we wanted
                raise _api_error(exc, f"delete PyTorchJob {namespace}/{name}") from exc
        deleted.append(name)
    return deleted


def _api_error(exc: ApiException, action: str) -> RuntimeError:
    hints = {401: "the credentials were refused; check your kubeconfig or service-account token",
             403: "not allowed; the service account needs the affectgpt-pipeline-runner Role (infra/steps/rbac)",
             404: "not found; is the Kubeflow Training Operator (PyTorchJob CRD) installed in the cluster?"}
    return RuntimeError(f"could not {action}: HTTP {exc.status} {exc.reason}. "
                        f"{hints.get(exc.status, 'see the API server message: ' + str(exc.body)[:300])}")


class MasterLog:
    """New lines of the Master pod's log since the last call (timestamps de-duplicate them)."""

    def __init__(self, api_client: client.ApiClient, namespace: str, job_name: str):
        self.core = client.CoreV1Api(api_client)
        self.namespace, self.pod = namespace, f"{job_name}-master-0"
        self.last_timestamp = ""

    def new_lines(self, since_seconds: int | None = None) -> list[str]:
        try:
            text = self.core.read_namespaced_pod_log(
                self.pod, self.namespace, container="pytorch", timestamps=True,
                since_seconds=since_seconds)
        except ApiException:
            return []  # the pod is not there yet (or already gone): nothing to show
        fresh = []
        for raw in (text or "").splitlines():
            stamp, _, line = raw.partition(" ")
            if stamp > self.last_timestamp:
                fresh.append(line)
                self.last_timestamp = stamp
        return fresh

    def tail(self, lines: int = 40) -> str:
        try:
            return self.core.read_namespaced_pod_log(self.pod, self.namespace, container="pytorch",
                                                     tail_lines=lines) or ""
        except ApiException as exc:
            return f"(no log: HTTP {exc.status} {exc.reason})"


def wait_for_job(
    name: str,
    namespace: str,
    api_client: client.ApiClient,
    *,
    timeout_s: float = 24 * 3600,
    poll_s: float = 10.0,
    on_status: Callable[[JobStatus], None] | None = None,
    on_log: Callable[[str], None] | None = None,
) -> JobStatus:
    """Poll until the job Succeeds (returned) or Fails / times out (TrainingJobFailed with the
    operator's message and the Master log tail)."""
    api = client.CustomObjectsApi(api_client)
    log = MasterLog(api_client, namespace, name)
    deadline = time.monotonic() + timeout_s
    last_line = ""
    while True:
        try:
            current = api.get_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name)
        except ApiException as exc:
            raise _api_error(exc, f"read PyTorchJob {namespace}/{name}") from exc
        status = job_status(current)
        if on_status and status.line() != last_line:
            on_status(status)
            last_line = status.line()
        if on_log and status.phase in ("Running", "Succeeded", "Failed", "Restarting"):
            for line in log.new_lines(since_seconds=None if not log.last_timestamp else int(poll_s) + 60):
                on_log(line)
        if status.phase == "Succeeded":
            return status
        if status.phase == "Failed":
            raise TrainingJobFailed(f"PyTorchJob {namespace}/{name} failed: {status.message or 'no message'}\n"
                                    f"--- last lines of {log.pod} ---\n{log.tail()}")
        if time.monotonic() >= deadline:
            raise TrainingJobFailed(f"PyTorchJob {namespace}/{name} still {status.phase} after {timeout_s:.0f} s; "
                                    f"it keeps running: `kubectl -n {namespace} delete pytorchjob {name}` to stop it")
        time.sleep(poll_s)

