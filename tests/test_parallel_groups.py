"""`make test` keeps a group of tests (a folder, or a top-level file) on one worker, in file
order (tests/conftest.py): a folder's session fixtures are built once, and tests that hand state
to the next in their file see it."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from xdist_groups import scheduling_group

ROOT = Path(__file__).resolve().parents[1]


def test_a_group_is_a_folder_or_a_top_level_file():
    assert scheduling_group("tests/registry/test_registry_attacks.py::test_x[a/b]") == "registry"
    assert scheduling_group("tests/test_readme.py::test_the_readme_runs_as_written") == "test_readme"


def test_make_tests_dist_mode_keeps_a_file_on_one_worker_in_order():
    make_args = re.search(r"--dist (\S+)", (ROOT / "Makefile").read_text()).group(1)
    files = ["tests/test_mlflow_uri_isolation.py", "tests/test_import_layers.py"]
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-n", "2", "--dist", make_args,
         "--no-loadscope-reorder", "-v", *files],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
    )
    assert run.returncode == 0, run.stdout[-3000:]
    ran = re.findall(r"\[(gw\d)\] \[\s*\d+%\] PASSED (tests/test_mlflow_uri_isolation\.py::\S+)", run.stdout)
    assert [name.split("::")[1] for _, name in ran] == [
        "test_a_test_points_mlflow_at_its_own_store",
        "test_the_next_test_starts_from_the_uris_before_it",
        "test_the_next_test_finds_the_experiment_from_before_it",
    ], run.stdout[-3000:]
    assert len({worker for worker, _ in ran}) == 1, ran
