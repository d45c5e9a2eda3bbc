"""The bench modules import downwards only: the report writer and the report's data model never
reach back into the scorer, and the mode rules sit below the metrics that use them."""

from __future__ import annotations

import ast
from pathlib import Path

import affectgpt.bench

BENCH = Path(affectgpt.bench.__file__).parent


def _imported_modules(name: str) -> set[str]:
    """Every `affectgpt...` module a bench module imports, at the top, in functions or under
    TYPE_CHECKING alike."""
    tree = ast.parse((BENCH / f"{name}.py").read_text(encoding="utf-8"))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("affectgpt"):
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name.startswith("affectgpt"))
    return found


def test_report_and_report_model_do_not_import_the_runner():
    assert "affectgpt.bench.report_model" in _imported_modules("report")
    for name in ("report", "report_model"):
        assert "affectgpt.bench.runner" not in _imported_modules(name), name


def test_mode_rules_do_not_import_the_metrics():
    assert _imported_modules("mode") <= {"affectgpt.bench.parsing", "affectgpt.errors"}
