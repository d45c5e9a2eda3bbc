"""The drift report's MLflow side: the server is asked whether it lets us in before any batch is
read, and the finished report is logged as a run.

A report takes minutes; a server that refuses the credentials must say so at once, before
anything is computed or written, not after drift.json is on disk. The codes follow the registry
(affectgpt.registry.identity): missing or refused credentials (HTTP 401) are bad input (2), a
server that knows the user but denies access (403) refuses (3), a server that does not answer is
unavailable (5).
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from affectgpt.errors import BadInput, Refused, Unavailable
from affectgpt.publish import fault_point
from affectgpt.signals import mlflow_run

if TYPE_CHECKING:
    from affectgpt.monitor.config import MonitoringConfig
    from affectgpt.monitor.summary import DriftSummary

TOKEN_ENV = "MLFLOW_TRACKING_TOKEN"
URI_ENV = "MLFLOW_TRACKING_URI"
TIMEOUT_S = 30
NO_LOGGING = f"or unset {URI_ENV} to write the report without logging it"


class TrackingLoginError(BadInput):
    """The tracking server wants credentials that are missing or wrong (HTTP 401)."""


class TrackingRefused(Refused):
    """The tracking server knows the user but denies access to the experiment (HTTP 403)."""


class TrackingUnavailable(Unavailable):
    """The tracking server did not answer, or answered with a server error."""


def check_tracking_access(tracking_uri: str, experiment: str) -> None:
    """Raise unless the server at `tracking_uri` lets the configured credentials read
    `experiment` (an experiment that does not exist yet is fine: logging creates it). A local
    store (sqlite, a folder) has nothing to ask."""
    # The registry's names and test for a server URI (imported here: the registry package is heavy).
    from affectgpt.registry.identity import PASSWORD_ENV, USERNAME_ENV, is_server_uri

    if not is_server_uri(tracking_uri):
        return
    import requests

    username, password, token = (os.environ.get(USERNAME_ENV), os.environ.get(PASSWORD_ENV),
                                 os.environ.get(TOKEN_ENV))
    auth = (username, password) if username and password else None
    headers = {"Authorization": f"Bearer {token}"} if token and auth is None else {}
    url = f"{tracking_uri.rstrip('/')}/api/2.0/mlflow/experiments/get-by-name"
    try:
        answer = requests.get(url, params={"experiment_name": experiment}, auth=auth, headers=headers,
                              timeout=TIMEOUT_S)
    except requests.RequestException as error:
        raise TrackingUnavailable(f"MLflow at {tracking_uri} does not answer ({type(error).__name__}); start it, "
                                  f"{NO_LOGGING}") from None
    status = answer.status_code
    if status == 401:
        if auth is None and not headers:
            raise TrackingLoginError(f"MLflow at {tracking_uri} requires a login: set {USERNAME_ENV} and "
                                     f"{PASSWORD_ENV} to your own account, {NO_LOGGING}")
        who = f"of {username!r} ({USERNAME_ENV}/{PASSWORD_ENV})" if auth else f"in {TOKEN_ENV}"
        raise TrackingLoginError(f"MLflow at {tracking_uri} refused the credentials {who}; check them with "
                                 f"your administrator, {NO_LOGGING}")
    if status == 403:
        raise TrackingRefused(f"MLflow at {tracking_uri} does not let {username or 'this login'!r} read experiment "
                              f"{experiment!r} (HTTP 403); ask its administrator for access, {NO_LOGGING}")
    if status == 404 and "RESOURCE_DOES_NOT_EXIST" in answer.text:
        return  # logging creates it
    if status >= 500:
        raise TrackingUnavailable(f"MLflow at {tracking_uri} answered HTTP {status}; try again later, {NO_LOGGING}")
    if status >= 400:
        raise BadInput(f"{tracking_uri} answered HTTP {status} to an MLflow API call: is it an MLflow tracking "
                       f"server? Fix {URI_ENV}, {NO_LOGGING}")


def log_report(summary: DriftSummary, out_dir: Path, config: MonitoringConfig) -> str:
    """Log the report folder as a run of `config.mlflow_experiment`; the run id. A server that
    lets the user read the experiment but not write to it answers only now: one line saying the
    report is written and was not logged."""
    from mlflow.exceptions import MlflowException

    from affectgpt.registry.identity import USERNAME_ENV

    try:
        return _log(summary, out_dir, config)
    except MlflowException as error:  # the basic-auth app answers a bare 403, not an MLflow error body
        if not (error.error_code == "PERMISSION_DENIED" or "403" in str(error) or "Permission denied" in str(error)):
            raise
        raise TrackingRefused(f"the report is written in {out_dir}, but MLflow at {os.environ.get(URI_ENV)} does "
                              f"not let {os.environ.get(USERNAME_ENV) or 'this login'!r} log to experiment "
                              f"{config.mlflow_experiment!r} (HTTP 403); ask its administrator for write access, "
                              "or set mlflow_experiment in the monitoring config to one you may write to") from None


def _log(summary: DriftSummary, out_dir: Path, config: MonitoringConfig) -> str:
    import mlflow

    from affectgpt.train.tracking import setup_experiment  # artifacts beside a sqlite store, not ./mlruns

    setup_experiment(config.mlflow_experiment)
    with mlflow_run(mlflow, run_name=f"drift-{datetime.now(UTC):%Y%m%d-%H%M%S}") as run:  # KILLED when stopped
        fault_point("drift:started:run")
        mlflow.log_params({"reference": summary.reference[:500], "current": summary.current[:500],
                           "n_reference": summary.n_reference, "n_current": summary.n_current})
        mlflow.log_metrics({"drifted_share": summary.drifted_share, "inconclusive": float(summary.retrain is None),
                            **({"retrain": float(summary.retrain)} if summary.retrain is not None else {}),
                            **{f"{g}_drifted_share": s.share for g, s in summary.groups.items()}})
        mlflow.set_tags({"retrain": "null" if summary.retrain is None else str(summary.retrain).lower(),
                         "verdict": summary.verdict, "step": "drift_report"})
        mlflow.log_artifacts(str(out_dir), artifact_path="drift")
        return run.info.run_id
