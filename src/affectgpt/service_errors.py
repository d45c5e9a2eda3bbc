"""One line for an HTTP service (KFP, MLflow, an OpenAI-compatible endpoint) that did not answer
as asked, saying which of the three usual causes it was.

A wrong address answers 404 at once, a stopped service refuses the connection at once, a slow or
firewalled one times out: each needs a different fix, so each gets its own words (and the kind
of error its exit code follows, `affectgpt.errors`) instead of a library's traceback or a
generic "did not answer":

    KFP API answered 404 at http://host/apis/v2beta1/healthz: is this the KFP API endpoint? (check --host)
    KFP API at http://127.0.0.1:9/apis/v2beta1/healthz refused the connection: is it running? (check --host)
    MLflow API at http://10.0.0.5:5000 did not answer in time (timeout): is it reachable from here? (...)
"""

from __future__ import annotations

import re
import socket
from collections.abc import Iterator, Mapping

from affectgpt.errors import AffectgptError, BadInput, NotFound, Refused, Unavailable

# MLflow's client raises this text when the answer is not MLflow's JSON (an MLflow server always
# answers JSON, so such an answer came from something else at that address).
MLFLOW_FOREIGN_ANSWER = re.compile(r"API request to endpoint (\S+) failed with error code (\d{3}) != \d{3}")
REFUSED_TEXT = ("Connection refused", "[Errno 111]", "ECONNREFUSED")
TIMEOUT_TEXT = ("timed out", "Read timed out", "ConnectTimeout", "timeout")
UNKNOWN_HOST_TEXT = ("Name or service not known", "nodename nor servname", "Temporary failure in name resolution",
                     "getaddrinfo failed", "NameResolutionError")


class ServiceNotThere(NotFound):
    """The address answers, but 404 on the service's own path: it is not that service (or not
    its API path)."""


class ServiceUnreachable(Unavailable):
    """Nothing answered: the connection was refused, timed out, or the host is unknown."""


def _chain(error: BaseException) -> Iterator[BaseException]:
    """`error`, its causes and contexts, and the `reason` urllib and urllib3 wrap a socket error in."""
    seen: set[int] = set()
    pending: list[BaseException] = [error]
    while pending:
        current = pending.pop(0)
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        for linked in (current.__cause__, current.__context__, getattr(current, "reason", None)):
            if isinstance(linked, BaseException):
                pending.append(linked)


def http_status(error: BaseException) -> int | None:
    """The HTTP status a server answered with, wherever the library keeps it (None: no answer)."""
    for link in _chain(error):
        for holder in (link, getattr(link, "response", None)):
            for name in ("status_code", "status", "code"):
                value = getattr(holder, name, None)
                if isinstance(value, int) and 100 <= value <= 599:
                    return value
        if match := MLFLOW_FOREIGN_ANSWER.search(str(link)):
            return int(match.group(2))
    return None


def no_answer_cause(error: BaseException) -> str | None:
    """'refused', 'timeout', 'unknown host' or None, from the exception chain (and its text, since
    urllib3 and requests keep the socket error only in a message)."""
    for link in _chain(error):
        if isinstance(link, ConnectionRefusedError):
            return "refused"
        if isinstance(link, (TimeoutError, socket.timeout)):
            return "timeout"
        if isinstance(link, socket.gaierror):
            return "unknown host"
    text = " ".join(str(link) for link in _chain(error))
    if any(marker in text for marker in REFUSED_TEXT):
        return "refused"
    if any(marker in text for marker in UNKNOWN_HOST_TEXT):
        return "unknown host"
    if any(marker in text for marker in TIMEOUT_TEXT):
        return "timeout"
    return None


def service_error(service: str, url: str, error: BaseException, hint: str = "") -> AffectgptError | None:
    """The one-line error for `error` raised while calling `service` ("KFP API") at `url`, or None
    when it is not about reaching the service (then the caller handles it as before). `hint`
    says what to check (`check --host`)."""
    tail = f" ({hint})" if hint else ""
    status = http_status(error)
    if status is not None:
        return answered(service, url, status, hint)
    cause = no_answer_cause(error)
    if cause == "refused":
        return ServiceUnreachable(f"{service} at {url} refused the connection: is it running?{tail}")
    if cause == "timeout":
        return ServiceUnreachable(f"{service} at {url} did not answer in time (timeout): is it reachable "
                                  f"from here?{tail}")
    if cause == "unknown host":
        return ServiceUnreachable(f"{service} at {url}: unknown host{tail}")
    return None


def error_kind(status: int) -> type[AffectgptError]:
    """The kind of error (and so the exit code) of a server's HTTP answer, the same for every
    command and service (docs/platform.md, "Exit codes"): missing or wrong credentials (401) are
    bad input (2), a server that knows the user and denies the request (403) refuses (3), 404 is
    not found (4), another 4xx bad input (2), a 5xx unavailable (5)."""
    if status == 403:
        return Refused
    if status == 404:
        return NotFound
    return BadInput if 400 <= status < 500 else Unavailable


def answered(service: str, url: str, status: int, hint: str = "") -> AffectgptError:
    """The one-line error for an HTTP answer `status` (not 2xx) from `service` at `url`."""
    tail = f" ({hint})" if hint else ""
    if status == 404:
        return ServiceNotThere(f"{service} answered 404 at {url}: is this the {service} endpoint?{tail}")
    if status == 401:
        return error_kind(status)(f"{service} at {url} refused the credentials (HTTP 401): they are missing or "
                                  f"wrong{tail}")
    if status == 403:
        return error_kind(status)(f"{service} at {url} denied the request (HTTP 403): the user is known but not "
                                  f"allowed to do this{tail}")
    return error_kind(status)(f"{service} answered HTTP {status} at {url}{tail}")


def probe(service: str, url: str, *, headers: Mapping[str, str] | None = None, timeout_s: float = 10.0,
          hint: str = "") -> None:
    """One GET of `url` (a health path of the service), no retries; raises the one-line error
    when it does not answer, or answers other than 2xx/3xx."""
    import urllib.error
    import urllib.request

    request = urllib.request.Request(url, headers=dict(headers or {}))
    try:
        with urllib.request.urlopen(request, timeout=timeout_s):
            return
    except urllib.error.HTTPError as error:
        raise answered(service, url, error.code, hint) from None
    except (urllib.error.URLError, OSError) as error:
        raise (service_error(service, url, error, hint)
               or ServiceUnreachable(f"{service} at {url} did not answer ({type(error).__name__})"
                                     + (f" ({hint})" if hint else ""))) from None
