"""The rehearsal's surroundings, started for a test: a real MLflow server with authentication on
127.0.0.1 (the stand-in for the cluster's `mlflow` Service), the stand-in API server, the
cluster's objects (the rendered overlay, what KFP installs, the Secrets an operator creates) and
the folders that stand for the PVCs and the object store."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from . import pod as sandbox
from .kfp_run import World
from .kube import Cluster, StandInApiServer, render_overlay

# What a KFP standalone install creates that our overlay relies on: the namespace its step pods
# run in and its runner ServiceAccount (our Role is bound to it; KFP's own roles are not modelled).
KFP_STANDALONE = [
    {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "kubeflow"}},
    {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "pipeline-runner", "namespace": "kubeflow"}},
]


def _registry_testkit():
    """tests/registry/registry_testkit.py: the one `mlflow server` process helper of the tests."""
    import importlib.util

    path = Path(__file__).resolve().parents[2] / "registry" / "registry_testkit.py"
    spec = importlib.util.spec_from_file_location("registry_testkit", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@dataclass
class MlflowService:
    """The stand-in for the cluster's `mlflow` Service: the registry gate app (MLflow's basic-auth
    app plus the gate), as infra/base/mlflow runs it, set up as docs/registry.md says
    (`affectgpt registry init`, through the gate)."""

    url: str
    admin: dict[str, str]  # MLFLOW_TRACKING_USERNAME/PASSWORD of the administrator

    @contextmanager
    def acting_as_admin(self) -> Iterator[None]:
        with _registry_testkit().environ(self.admin):
            yield


@contextmanager
def mlflow_service(root: Path, *, model_name: str, pipeline_user: str, pipeline_password: str,
                   rules: Path, submitter: str = "rehearsal") -> Iterator[MlflowService]:
    """A real `mlflow server --app-name affectgpt-gate` on 127.0.0.1 (sqlite stores, proxied
    artifacts: clients upload through it, so it shares no folder with the pods), with the
    pipeline identity, one reviewer and the run's submitter (`submitted_by`: the gate records only
    real users as authors) created and `model_name` initialised with `rules`."""
    from mlflow.server import get_app_client

    from affectgpt.registry.connection import RegistryClient
    from affectgpt.registry.governance import init_registry

    testkit = _registry_testkit()
    server = testkit.MlflowServer(root, auth=True)
    server.start(timeout_s=180)
    service = MlflowService(server.url, {"MLFLOW_TRACKING_USERNAME": "admin",
                                         "MLFLOW_TRACKING_PASSWORD": server.ADMIN_PASSWORD})
    try:
        with service.acting_as_admin():
            users = get_app_client("basic-auth", tracking_uri=server.url)
            users.create_user(pipeline_user, pipeline_password)
            users.create_user("reviewer", "reviewer-password-1")
            users.create_user(submitter, "submitter-password-1")
            init_registry(model_name, pipeline_user=pipeline_user, reviewers=["reviewer"], rules_path=rules,
                          client=RegistryClient(server.url, testkit.FAST_RETRY))
        yield service
    finally:
        server.stop()


@contextmanager
def rehearsal_world(root: Path, runtime: sandbox.ImageRuntime, *, overlay: Path, pvcs: dict[str, Path],
                    services: dict[str, str], extra_objects: list[dict] = (), namespace: str = "kubeflow",
                    service_account: str = "pipeline-runner", objects: list[dict] | None = None) -> Iterator[World]:
    """A World on the rendered `overlay` (or on `objects`, already rendered) plus `extra_objects`
    (KFP's, the operator-created Secrets), with the stand-in API server running."""
    rendered = render_overlay(overlay) if objects is None else objects
    cluster = Cluster([*rendered, *KFP_STANDALONE, *extra_objects])
    world_holder: list[World] = []

    def start_pod(job, replica_type, index, pod_name):
        return world_holder[0].start_job_pod(job, replica_type, index, pod_name)

    with StandInApiServer(cluster, root / "apiserver", root / "job-logs", start_pod) as api:
        world = World(runtime=runtime, cluster=cluster, api=api, root=root, pvcs=pvcs, services=services,
                      namespace=namespace, service_account=service_account)
        world_holder.append(world)
        yield world
