"""What a test needs and this machine may lack (the reference data, a Debian package): a skip
that names what to install on a developer's machine, a failure in CI, which must run everything."""

from __future__ import annotations

import os
from typing import NoReturn

import pytest

REQUIRE_ENV = "AFFECTGPT_REQUIRE_REFERENCE_DATA"  # set to 1 by .ci/run


def everything_required() -> bool:
    return os.environ.get(REQUIRE_ENV) == "1"


def missing(what: str) -> NoReturn:
    """Skip the test, saying `what` is missing and how to get it; fail it where CI requires everything."""
    if everything_required():
        pytest.fail(f"{REQUIRE_ENV}=1 but {what}")
    pytest.skip(what)
