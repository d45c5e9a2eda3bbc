"""Imports flow one way: library (`affectgpt.*`) <- `affectgpt_kfp.components` <-
`affectgpt_kfp.pipelines` <- the CLIs.

Read from the source with `ast`, not by importing, so every import counts: at the top of a
module, inside a function, under `if TYPE_CHECKING:` alike. A cycle hidden in a function is
still a cycle (the two modules cannot be understood, tested or moved apart), so function-level
imports are edges here too. The layering rule lets exactly two library modules reach up, the
pipeline CLI (`affectgpt/pipeline_cli.py`) and its Kubeflow-API reader
(`affectgpt/pipeline_runs.py`), and only inside their commands, so `import affectgpt...` never
drags kfp in.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
LIBRARY = REPO / "src" / "affectgpt"
KFP_SIDE = REPO / "src" / "affectgpt_kfp"
UPPER_LAYERS = ("affectgpt_kfp",)
LAZY_ONLY = {"affectgpt.pipeline_cli", "affectgpt.pipeline_runs"}  # may import the layers above, in functions


@dataclass(frozen=True)
class Import:
    """One import statement's target as written (absolute), where it is, and whether it runs
    when the module is imported (module level) or only when a function is called."""

    target: str
    names: tuple[str, ...]
    line: int
    module_level: bool


def module_files(root: Path) -> dict[str, Path]:
    """Dotted module name -> file, for every .py under the package folder `root`."""
    found = {}
    for path in sorted(root.rglob("*.py")):
        parts = list(path.relative_to(root.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def imports_of(module: str, path: Path) -> list[Import]:
    """Every import in the file, relative ones made absolute."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: list[Import] = []

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.Import):
                found.extend(Import(alias.name, (), child.lineno, not in_function) for alias in child.names)
            elif isinstance(child, ast.ImportFrom):
                if child.level:
                    base = package.split(".")[: len(package.split(".")) - child.level + 1]
                    target = ".".join(base + ([child.module] if child.module else []))
                else:
                    target = child.module or ""
                found.append(Import(target, tuple(a.name for a in child.names), child.lineno, not in_function))
            visit(child, in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)))

    visit(ast.parse(path.read_text(encoding="utf-8")), False)
    return found


def import_graph(modules: dict[str, Path]) -> dict[str, dict[str, int]]:
    """module -> {imported module of the same set: first line}. `from a import b` is an edge to
    `a.b` when that is a module, else to `a` (b is a name defined in a)."""

    def resolve(name: str) -> str | None:
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name or None

    graph: dict[str, dict[str, int]] = {}
    for module, path in modules.items():
        edges: dict[str, int] = {}
        for imp in imports_of(module, path):
            targets = [imp.target] if not imp.names else [f"{imp.target}.{name}" for name in imp.names]
            for target in filter(None, map(resolve, targets)):
                if target != module:
                    edges.setdefault(target, imp.line)
        graph[module] = edges
    return graph


def cycles(graph: dict[str, dict[str, int]]) -> list[list[str]]:
    """One cycle per strongly connected component of more than one module (Tarjan), each as
    the path a -> b -> ... -> a, so a failure names files to open, not just a component."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[set[str]] = []

    def connect(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in graph[node]:
            if nxt not in index:
                connect(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.add(member)
                if member == node:
                    break
            if len(component) > 1:
                components.append(component)

    for node in sorted(graph):
        if node not in index:
            connect(node)
    return [_a_cycle_through(graph, component) for component in components]


def _a_cycle_through(graph: dict[str, dict[str, int]], component: set[str]) -> list[str]:
    """The shortest way from the component's first module back to itself (breadth first)."""
    start = min(component)
    previous: dict[str, str] = {}
    frontier = [start]
    while frontier:
        following = []
        for node in frontier:
            for nxt in sorted(graph[node]):
                if nxt == start:
                    path = [node]
                    while path[-1] != start:
                        path.append(previous[path[-1]])
                    return [start, *reversed(path[:-1]), start]
                if nxt in component and nxt not in previous:
                    previous[nxt] = node
                    following.append(nxt)
        frontier = following
    raise AssertionError(f"no cycle through {start}")  # cannot happen for a component of 2+


def describe(cycle: list[str], graph: dict[str, dict[str, int]], files: dict[str, Path]) -> str:
    steps = [f"{a} ({files[a].relative_to(REPO)}:{graph[a][b]}) imports {b}" for a, b in pairwise(cycle)]
    return " -> ".join(cycle) + "\n    " + "\n    ".join(steps)


# ------------------------------------------------------------------------------- the rules


def test_no_import_cycle_in_the_library():
    files = module_files(LIBRARY)
    graph = import_graph(files)
    found = cycles(graph)
    assert not found, f"{len(found)} import cycle(s) in affectgpt:\n" + "\n".join(
        describe(cycle, graph, files) for cycle in found)


def test_the_library_reaches_up_only_from_the_pipeline_cli_and_only_lazily():
    wrong = []
    for module, path in module_files(LIBRARY).items():
        for imp in imports_of(module, path):
            top = imp.target.split(".")[0]
            if top == "kfp":
                wrong.append(f"{path.relative_to(REPO)}:{imp.line} imports {imp.target} (the library imports kfp nowhere)")
            elif top in UPPER_LAYERS and (module not in LAZY_ONLY or imp.module_level):
                where = "at module level" if imp.module_level else "(only the pipeline CLI modules may, lazily)"
                wrong.append(f"{path.relative_to(REPO)}:{imp.line} imports {imp.target} {where}")
    assert not wrong, "the library imports a layer above it:\n" + "\n".join(wrong)


def test_components_never_import_pipelines():
    wrong = [f"{path.relative_to(REPO)}:{imp.line} imports {imp.target}"
             for module, path in module_files(KFP_SIDE / "components").items()
             for imp in imports_of(module, path) if imp.target.startswith("affectgpt_kfp.pipelines")]
    assert not wrong, "components sit below pipelines:\n" + "\n".join(wrong)


# ------------------------------------------------------------------- the check itself can fail


def _package(root: Path, files: dict[str, str]) -> dict[str, Path]:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return module_files(root / "pkg")


def test_the_check_sees_a_cycle_through_a_function_level_import(tmp_path: Path):
    files = _package(tmp_path, {
        "pkg/__init__.py": "",
        "pkg/a.py": "from pkg.b import helper\n",
        "pkg/b.py": "def helper():\n    from . import c\n",
        "pkg/c.py": "import pkg.a\n",
        "pkg/d.py": "from pkg import a\n",  # only imports: not in the cycle
    })
    graph = import_graph(files)
    assert cycles(graph) == [["pkg.a", "pkg.b", "pkg.c", "pkg.a"]]
    assert graph["pkg.b"] == {"pkg.c": 2} and graph["pkg.d"] == {"pkg.a": 1}


def test_the_check_tells_module_level_from_lazy_imports(tmp_path: Path):
    files = _package(tmp_path, {
        "pkg/__init__.py": "",
        "pkg/cli.py": "import typing\nif typing.TYPE_CHECKING:\n    import affectgpt_kfp.pipelines\n"
                      "def run():\n    from affectgpt_kfp.pipelines.compile import compile_all\n",
    })
    found = [(imp.target, imp.module_level) for imp in imports_of("pkg.cli", files["pkg.cli"])]
    assert found == [("typing", True), ("affectgpt_kfp.pipelines", True), ("affectgpt_kfp.pipelines.compile", False)]
