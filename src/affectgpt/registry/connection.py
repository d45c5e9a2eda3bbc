"""Which MLflow the registry talks to, and how it survives a server that blinks.

The tracking URI comes from the caller, else `MLFLOW_TRACKING_URI`, else the embedded default
(a sqlite file plus an artifact folder under the workspace). Every remote call goes through
`RegistryClient.call`, which retries transient failures (connection refused, timeouts, 5xx,
a locked sqlite file) with exponential backoff (tenacity, shaped by `RetryPolicy`) and then
raises one clear `RegistryUnavailable`.
MLflow's own HTTP retries are turned down (unless the user set them) because they would wait
minutes on a dead server before our clear message could be shown.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from tenacity import RetryError, Retrying, retry_if_exception, stop_after_attempt, wait_exponential

from affectgpt import paths
from affectgpt.registry.errors import NotFound, RegistryUnavailable
from affectgpt.service_errors import MLFLOW_FOREIGN_ANSWER, answered, no_answer_cause

T = TypeVar("T")

TRACKING_URI_ENV = paths.TRACKING_URI_ENV
RETRIES_ENV = "AFFECTGPT_REGISTRY_RETRIES"
RETRY_DELAY_ENV = "AFFECTGPT_REGISTRY_RETRY_DELAY_S"

# Our retry loop owns the waiting; MLflow's inner loop would otherwise retry 7 times per call.
for _key, _value in {
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "30",
    "MLFLOW_DISABLE_TELEMETRY": "true",
}.items():
    os.environ.setdefault(_key, _value)


def default_tracking_uri() -> str:
    """The embedded store (`paths.default_tracking_uri`: the one owner of the default)."""
    return paths.default_tracking_uri()


def resolve_tracking_uri(tracking_uri: str | None = None) -> str:
    return paths.tracking_uri(tracking_uri)


def artifact_root_for(tracking_uri: str) -> str | None:
    """Where experiments created by the registry keep artifacts (see `paths.artifact_root_for`)."""
    return paths.artifact_root_for(tracking_uri)


def existing_store_uri(tracking_uri: str | None = None) -> str:
    """The store a read-only command reads, which must already exist: opening a missing sqlite
    file would create an empty registry (and a workspace) and then report "not found"."""
    uri = paths.tracking_uri(tracking_uri, create=False)
    db_path = paths.sqlite_path(uri)
    if db_path is not None and not db_path.is_file():
        raise NotFound(f"no registry at {db_path} (run `make run` or pass --tracking-uri)")
    return uri


@dataclass(frozen=True)
class RetryPolicy:
    """Attempts per remote call and the backoff between them (doubling, capped)."""

    attempts: int = 5
    first_delay_s: float = 0.5
    max_delay_s: float = 8.0

    @classmethod
    def from_env(cls) -> RetryPolicy:
        attempts = int(os.environ.get(RETRIES_ENV, cls.attempts))
        first_delay_s = float(os.environ.get(RETRY_DELAY_ENV, cls.first_delay_s))
        return cls(attempts=max(1, attempts), first_delay_s=first_delay_s)

    def delays_s(self) -> list[float]:
        """Waits between attempts: attempts-1 of them (what `retrying` sleeps, for messages)."""
        return [min(self.first_delay_s * 2**i, self.max_delay_s) for i in range(self.attempts - 1)]

    def retrying(self, retry_on: Callable[[BaseException], bool]) -> Retrying:
        """A tenacity controller for this policy: up to `attempts` tries while `retry_on(error)`
        holds, waiting `first_delay_s * 2**i` (capped at `max_delay_s`) between them; an error
        `retry_on` rejects is raised at once, running out raises tenacity's `RetryError`."""
        return Retrying(
            stop=stop_after_attempt(self.attempts),
            wait=wait_exponential(multiplier=self.first_delay_s, max=self.max_delay_s),
            retry=retry_if_exception(retry_on),
        )


# MLflow reports some transient failures only in its message text: a 502 from a proxy has no
# error code of its own (it becomes INTERNAL_ERROR), a locked sqlite file is an OperationalError
# whose only mark is its text, and a refused connection is re-raised as a plain MlflowException.
_TRANSIENT_TEXT = (
    "Max retries exceeded",
    "Connection refused",
    "Failed to establish a new connection",
    "RemoteDisconnected",
    "Connection aborted",
    "Read timed out",
    "timeout exception",
    "database is locked",
    "failed with error code 502",
    "failed with error code 503",
    "failed with error code 504",
    "TEMPORARILY_UNAVAILABLE",
)


def is_transient(error: BaseException) -> bool:
    """True for failures worth retrying: the server is unreachable or briefly overloaded."""
    import requests

    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, (requests.exceptions.ConnectionError, requests.exceptions.Timeout)):
            return True
        if isinstance(current, (ConnectionError, TimeoutError)):
            return True
        if any(text in str(current) for text in _TRANSIENT_TEXT):
            return True
        current = current.__cause__ or current.__context__
    return False


def foreign_answer(tracking_uri: str, error: BaseException):
    """The one-line error when an answer in `error`'s chain was not MLflow's JSON (an MLflow
    server always answers JSON): the address serves something else, e.g. a 404 page, which
    would otherwise read as "model not in the registry". None for MLflow's own answers."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if match := MLFLOW_FOREIGN_ANSWER.search(str(current)):
            return answered("MLflow API", tracking_uri.rstrip("/") + match.group(1), int(match.group(2)),
                            "check --tracking-uri or MLFLOW_TRACKING_URI")
        current = current.__cause__ or current.__context__
    return None


class RegistryClient:
    """An `MlflowClient` bound to one tracking/registry URI, with retried calls."""

    def __init__(self, tracking_uri: str | None = None, retry: RetryPolicy | None = None) -> None:
        from mlflow.tracking import MlflowClient

        self.tracking_uri = resolve_tracking_uri(tracking_uri)
        self.retry = retry or RetryPolicy.from_env()
        self.mlflow = MlflowClient(tracking_uri=self.tracking_uri, registry_uri=self.tracking_uri)
        self.held_leases: set[str] = set()  # models whose alias lease this client holds now
        self._identity = None
        # Inside the MLflow server only: the enforcement point's store of frozen evidence
        # (`gate_store.GateStore`); None everywhere else.
        self.evidence_store = None
        # Inside the MLflow server: how the gate creates a model it owns (the first audit copy
        # of an older registry), `enforcement.provide_owned_model`; handed in by the server so
        # that the audit log, which the gate's operations use, does not import them back.
        self.provide_owned_model: Callable[..., None] | None = None

    @classmethod
    def enforcement_point(cls, tracking_uri: str, identity, evidence_store,
                          provide_owned_model: Callable[..., None] | None = None) -> RegistryClient:
        """The gate's own client inside the MLflow server: the server's backend store opened
        directly (no REST, so no user's permissions apply) acting for `identity`, which the
        server authenticated; evidence goes to `evidence_store`."""
        client = cls(tracking_uri, RetryPolicy(attempts=3, first_delay_s=0.2, max_delay_s=1.0))
        client._identity = identity
        client.evidence_store = evidence_store
        client.provide_owned_model = provide_owned_model
        return client

    def identity(self, claimed: str | None = None):
        """The acting identity (see `identity.resolve_identity`), checked with the server once."""
        from affectgpt.registry.identity import resolve_identity, same_person

        if self._identity is None:
            self._identity = self.call(
                "check who the credentials belong to", resolve_identity, self.tracking_uri, claimed
            )
        elif claimed and not same_person(claimed, self._identity.name):
            if self._identity.authenticated:
                return resolve_identity(self.tracking_uri, claimed)  # raises: claim != login
            from affectgpt.registry.identity import Identity

            return Identity(name=claimed.strip(), authenticated=False)
        return self._identity

    def call(self, what: str, fn: Callable[..., T], *args, **kwargs) -> T:
        """Run `fn(*args, **kwargs)`; retry transient failures, then raise RegistryUnavailable.

        Only idempotent operations (reads, tag/alias sets, check-then-create units) go through
        here, so a retry after a lost response cannot write twice.
        """
        try:
            return self.retry.retrying(is_transient)(fn, *args, **kwargs)
        except RetryError as exhausted:
            last = exhausted.last_attempt.exception()
            cause = no_answer_cause(last) if last is not None else None
            how = {"refused": ": it refused the connection", "timeout": ": each attempt timed out",
                   "unknown host": ": unknown host"}.get(cause or "", "")
            raise RegistryUnavailable(
                f"MLflow at {self.tracking_uri} did not answer while trying to {what}{how} "
                f"({self.retry.attempts} attempts over {sum(self.retry.delays_s()):.1f} s); nothing was "
                "changed by this step. Check that the server is running (its /health "
                "endpoint) or set MLFLOW_TRACKING_URI, then run the command again."
            ) from last
        except Exception as error:
            foreign = foreign_answer(self.tracking_uri, error)
            if foreign is not None:
                raise foreign from None
            raise
