"""The one error type a person sees, and the exit code each kind maps to.

Domain modules raise these (or subclasses of them) with one line that says what went wrong and
what to do; the CLI prints that line and exits with the kind's code. Schedulers branch on the
code, so the codes are part of the interface (docs/platform.md, "Exit codes"):

    0 success   1 a bug (traceback kept)   2 bad input   3 refused by a rule or inconclusive
    4 not found   5 a service (MLflow, KFP, Feast, an endpoint) unavailable

Nothing here imports typer: the library raises, only the CLI decides how to exit.
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """Documented exit codes of every `affectgpt` command."""

    OK = 0
    BUG = 1
    BAD_INPUT = 2
    REFUSED = 3
    NOT_FOUND = 4
    UNAVAILABLE = 5


class AffectgptError(Exception):
    """A failure a person can act on: `str(error)` is the whole message, no traceback needed."""

    exit_code: ExitCode = ExitCode.BAD_INPUT


class BadInput(AffectgptError):
    """A malformed file, config, argument or record."""

    exit_code = ExitCode.BAD_INPUT


class Refused(AffectgptError):
    """A rule said no (gate, four-eyes, lock) or the result is inconclusive."""

    exit_code = ExitCode.REFUSED


class NotFound(AffectgptError):
    """An unknown model, version, run, dataset, file or alias."""

    exit_code = ExitCode.NOT_FOUND


class Unavailable(AffectgptError):
    """A service did not answer (after the configured retries)."""

    exit_code = ExitCode.UNAVAILABLE


def exit_code_for(error: BaseException) -> int:
    """The documented code for an error: its `exit_code` when it carries one (our errors, and
    subsystem errors that declare one), else 1 (a bug)."""
    code = getattr(error, "exit_code", None)
    return int(code) if code is not None else int(ExitCode.BUG)
