"""Errors the registry raises on purpose, each carrying one line a person can act on.

The CLI prints `str(error)` and exits non-zero; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

from affectgpt import errors


class RegistryError(errors.AffectgptError):
    """A user-facing registry failure: the message says what went wrong and what to do."""


class NotFound(RegistryError, errors.NotFound):
    """An unknown model, version, run or alias."""


class Refused(RegistryError, errors.Refused):
    """A rule said no (four-eyes, missing approval, failed gate, champion moved...)."""


class RegistryUnavailable(RegistryError, errors.Unavailable):
    """The tracking server did not answer after the configured retries."""


class InvalidInput(RegistryError, errors.BadInput):
    """A bad scores file, promotion config or argument."""
