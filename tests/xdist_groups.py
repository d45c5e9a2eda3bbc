"""The unit `make test` schedules on one worker (tests/conftest.py): a folder of tests, or one
top-level test file."""

from __future__ import annotations


def scheduling_group(nodeid: str) -> str:
    """`tests/registry/test_x.py::test_y` -> `registry`; `tests/test_readme.py::t` -> `test_readme`."""
    parts = nodeid.split("::", 1)[0].split("/")
    inside_tests = parts[1:] if parts[0] == "tests" else parts
    return inside_tests[0] if len(inside_tests) > 1 else inside_tests[0].removesuffix(".py")
