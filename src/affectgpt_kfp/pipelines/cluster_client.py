"""Submit and schedule compiled pipelines on a Kubeflow Pipelines server (`kfp.Client`).

Auth comes from the environment: `KFP_TOKEN` (a bearer token), `KFP_COOKIES` (e.g. an
authservice session behind Dex/oauth2-proxy), or, inside a cluster pod, the projected
service-account token of audience `pipelines.kubeflow.org` at `$KF_PIPELINES_SA_TOKEN_PATH`
(default /var/run/secrets/kubeflow/pipelines/token). kfp.Client reads that file by itself only
when no host is given, so it is passed explicitly here.
"""

import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import kfp


@dataclass
class Submitted:
    kind: str  # "run" | "recurring run"
    id: str
    experiment_id: str
    url: str


def service_account_token_path() -> Path | None:
    """The projected KFP token of this pod, when there is one."""
    from kfp.client import KF_PIPELINES_SA_TOKEN_ENV, KF_PIPELINES_SA_TOKEN_PATH

    path = Path(os.environ.get(KF_PIPELINES_SA_TOKEN_ENV, KF_PIPELINES_SA_TOKEN_PATH))
    return path if path.is_file() else None


KFP = "KFP API"
HEALTHZ_PATH = "/apis/v2beta1/healthz"
HOST_HINT = "check --host"


def kfp_client(host: str, namespace: str | None = None) -> kfp.Client:
    """A client for the KFP API at `host`, after one request to its health endpoint with the same
    credentials: kfp.Client asks that endpoint five times, logging a traceback each time and then
    saying "TimeoutError" whatever went wrong; the probe says at once whether the address is not
    the KFP API (404), refuses the connection or times out (`affectgpt.service_errors`)."""
    from affectgpt.service_errors import probe

    kwargs: dict[str, Any] = {"host": host}
    headers: dict[str, str] = {}
    if os.environ.get("KFP_TOKEN"):
        kwargs["existing_token"] = os.environ["KFP_TOKEN"]
        headers["Authorization"] = f"Bearer {os.environ['KFP_TOKEN']}"
    elif token := service_account_token_path():
        from kfp.client import ServiceAccountTokenVolumeCredentials

        kwargs["credentials"] = ServiceAccountTokenVolumeCredentials(str(token))
        headers["Authorization"] = f"Bearer {token.read_text().strip()}"
    if os.environ.get("KFP_COOKIES"):
        kwargs["cookies"] = os.environ["KFP_COOKIES"]
        headers["Cookie"] = os.environ["KFP_COOKIES"]
    probe(KFP, host.rstrip("/") + HEALTHZ_PATH, headers=headers, hint=HOST_HINT)
    if namespace:
        kwargs["namespace"] = namespace
    with warnings.catch_warnings():  # "only works with KFP >= 2.0.0-beta.2": we target 2.x servers
        warnings.simplefilter("ignore", FutureWarning)
        return kfp.Client(**kwargs)


def submitter() -> str:
    """Who is submitting: the MLflow server's authenticated user when MLFLOW_TRACKING_URI names a
    server with a login (credentials checked there), else $AFFECTGPT_ACTOR or the login name."""
    from affectgpt.registry.identity import resolve_identity

    uri = os.environ.get("MLFLOW_TRACKING_URI", "")
    return resolve_identity(uri).name


def submit_run(host: str, package: Path, arguments: dict[str, Any], *, experiment: str, run_name: str | None = None,
               namespace: str | None = None, service_account: str | None = None,
               enable_caching: bool | None = None) -> Submitted:
    client = kfp_client(host, namespace)
    result = client.create_run_from_pipeline_package(
        str(package), arguments=arguments, run_name=run_name or f"{package.stem}", experiment_name=experiment,
        namespace=namespace, service_account=service_account, enable_caching=enable_caching)
    return Submitted("run", result.run_id, str(getattr(result, "experiment_id", "") or ""),
                     f"{host.rstrip('/')}/#/runs/details/{result.run_id}")


def schedule_run(host: str, package: Path, arguments: dict[str, Any], *, cron: str, experiment: str,
                 job_name: str, namespace: str | None = None, max_concurrency: int = 1,
                 service_account: str | None = None) -> Submitted:
    """A recurring run. `cron` has 6 fields (seconds first), as the KFP scheduler expects;
    a classic 5-field expression gets "0 " prepended (croniter checks it: `kfp_cron`)."""
    from affectgpt.pipeline_inputs import kfp_cron

    cron = kfp_cron(cron)
    client = kfp_client(host, namespace)
    experiment_obj = client.create_experiment(name=experiment, namespace=namespace)
    recurring = client.create_recurring_run(
        experiment_id=experiment_obj.experiment_id, job_name=job_name, cron_expression=cron,
        pipeline_package_path=str(package), params=arguments, max_concurrency=max_concurrency,
        no_catchup=True, enabled=True, service_account=service_account)
    return Submitted("recurring run", recurring.recurring_run_id, experiment_obj.experiment_id,
                     f"{host.rstrip('/')}/#/recurringrun/details/{recurring.recurring_run_id}")
