"""Errors the registry raises on purpose, each carrying one line a person can act on.

The CLI prints `str(error)` and exits non-zero; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations


class RegistryError(Exception):
    """A user-facing registry failure: the message says what went wrong and what to do."""


class NotFound(RegistryError):
    """An unknown model, version, run or alias."""


class Refused(RegistryError):
    """A rule said no (four-eyes, missing approval, failed gate, champion moved...)."""


class RegistryUnavailable(RegistryError):
    """The tracking server did not answer after the configured retries."""


class InvalidInput(RegistryError):
    """A bad scores file, promotion config or argument."""
