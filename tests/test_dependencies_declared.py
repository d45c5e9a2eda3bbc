"""Every third-party package the shipped code imports is a runtime dependency in pyproject.toml
and pinned in the locks; what only the tests use sits in the `dev` extra.

An import that is not declared works in this checkout (the lock installs it) and fails in an
installed wheel, which is how `fer` went missing once. Import names are mapped to distributions
with the installed metadata (`importlib.metadata.packages_distributions`), so `cv2` is found as
opencv-python-headless and `yaml` as pyyaml without a table kept by hand.
"""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHIPPED = (REPO / "src" / "affectgpt", REPO / "src" / "affectgpt_kfp")
OWN = {"affectgpt", "affectgpt_kfp"}
LOCKS = ("requirements.lock", "requirements-torch.lock")


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _requirement_names(requirements: list[str]) -> set[str]:
    return {_norm(re.split(r"[<>=!~\[; ]", requirement, maxsplit=1)[0]) for requirement in requirements}


def _imported_top_names() -> dict[str, str]:
    """Top-level module name -> one file that imports it, over the shipped code."""
    found: dict[str, str] = {}
    for root in SHIPPED:
        for path in sorted(root.rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names = [node.module]
                else:
                    continue
                for name in names:
                    found.setdefault(name.split(".")[0], str(path.relative_to(REPO)))
    return {name: where for name, where in found.items()
            if name not in sys.stdlib_module_names and name not in OWN and name != "__future__"}


def test_every_imported_package_is_declared_and_locked():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    runtime = _requirement_names(project["dependencies"])
    locked = {_norm(line.split("==", 1)[0]) for lock in LOCKS
              for line in (REPO / lock).read_text().splitlines() if "==" in line and not line.startswith((" ", "#"))}
    distributions = packages_distributions()
    problems = []
    for name, where in sorted(_imported_top_names().items()):
        candidates = {_norm(d) for d in distributions.get(name, [])}
        if not candidates:
            problems.append(f"{name} (imported in {where}) is not installed")
        elif not candidates & runtime:
            problems.append(f"{name} (imported in {where}): declare one of {sorted(candidates)} in "
                            "[project] dependencies")
        elif not candidates & locked:
            problems.append(f"{name} (imported in {where}): pin {sorted(candidates)} in requirements.lock")
    assert not problems, "\n".join(problems)


def test_test_only_packages_are_in_the_dev_extra_not_the_runtime():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    runtime = _requirement_names(project["dependencies"])
    dev = _requirement_names(project["optional-dependencies"]["dev"])
    imported = set()
    distributions = packages_distributions()
    for name in _imported_top_names():
        imported |= {_norm(d) for d in distributions.get(name, [])}
    assert not dev & runtime, sorted(dev & runtime)
    assert not dev & imported, f"the shipped code imports {sorted(dev & imported)}: make it a runtime dependency"
    assert "tqdm" not in runtime  # declared once, imported nowhere


def test_the_cluster_stores_drivers_are_declared_locked_and_installed():
    """MLflow, the gate and Feast open the cluster's stores by URI: the driver a documented URI
    names (SQLAlchemy 2.1 reads a bare `postgresql://` as psycopg 3) and the Redis client of
    Feast's online store must be in the image, i.e. runtime dependencies and locked. Nothing
    of ours imports them, so the import scan above cannot see them."""
    from importlib import import_module

    import sqlalchemy
    import yaml

    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    runtime = _requirement_names(project["dependencies"])
    locked = {_norm(line.split("==", 1)[0]) for line in (REPO / "requirements.lock").read_text().splitlines()
              if "==" in line and not line.startswith((" ", "#"))}
    secrets = dict(re.findall(r"create secret generic (\S+) --from-literal=uri='([^']+)'",
                              (REPO / "docs" / "deploy.md").read_text()))
    assert {"mlflow-db", "feast-registry"} <= set(secrets), secrets
    modules = {}
    for secret, uri in secrets.items():
        dialect = sqlalchemy.engine.make_url(uri).get_dialect()
        try:
            modules[secret] = dialect.import_dbapi().__name__.split(".")[0]
        except ImportError as error:
            raise AssertionError(f"docs/deploy.md Secret {secret}: {uri} needs {error.name}, which is not installed; "
                                 "name the driver the lock holds (postgresql+psycopg2://)") from None
    feast_store = yaml.safe_load(yaml.safe_load((REPO / "infra" / "base" / "feast" / "configmap.yaml").read_text())
                                 ["data"]["feature_store.yaml"].replace("${", "{"))
    assert feast_store["online_store"]["type"] == "redis"
    modules["feast online store"] = import_module("redis").__name__
    distributions = packages_distributions()
    for store, module in modules.items():
        names = {_norm(d) for d in distributions.get(module, [])}
        assert names & runtime, f"{store}: declare one of {sorted(names)} in [project] dependencies"
        assert names & locked, f"{store}: pin {sorted(names)} in requirements.lock"
