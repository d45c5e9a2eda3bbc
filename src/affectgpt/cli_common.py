"""One convention for every `affectgpt` command: shared options, output, errors and logging.

Every subsystem CLI takes its options from here so that `--out` always names the output
folder or file, `-v/--verbose` always means "show library logs", `-h` always means help, and
an error is always one red line on stderr with a documented exit code (`affectgpt.errors`).
Paths are printed with `soft_wrap` so they are never broken mid-word and can be pasted.
"""

from __future__ import annotations

import contextlib
import functools
import importlib.abc
import importlib.util
import io
import logging
import os
import sys
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

import typer
from rich.console import Console
from rich.markup import escape

from affectgpt.errors import AffectgptError, BadInput, NotFound, exit_code_for
from affectgpt.paths import ResolvedConfig, find_config

CONTEXT_SETTINGS = {"help_option_names": ["-h", "--help"]}

# soft_wrap: long lines (paths, commands) are left to the terminal, never cut by rich.
console = Console(soft_wrap=True)
err_console = Console(stderr=True, soft_wrap=True)

Out = Annotated[Path, typer.Option("--out", "-o", help="where to write the output (a folder unless the help says a file)")]
Verbose = Annotated[bool, typer.Option("--verbose", "-v", help="show library logs and warnings (MLflow, DeepSpeed, ...)")]

# Library loggers that talk at INFO in normal runs; quiet unless --verbose.
NOISY_LOGGERS = (
    "mlflow", "alembic", "DeepSpeed", "deepspeed", "torch", "transformers", "feast", "evidently",
    "urllib3", "httpx", "kfp", "numexpr", "matplotlib", "PIL", "dvc", "filelock", "asyncio",
)

F = TypeVar("F", bound=Callable[..., Any])
_state = {"verbose": False}  # set once per process by the root `--verbose` (configure_logging)


def new_app(**kwargs: Any) -> typer.Typer:
    """A typer group that follows the convention (`-h`, no completion noise, no locals in tracebacks)."""
    kwargs.setdefault("no_args_is_help", True)
    kwargs.setdefault("add_completion", False)
    kwargs.setdefault("pretty_exceptions_show_locals", False)
    settings = dict(CONTEXT_SETTINGS)
    settings.update(kwargs.pop("context_settings", {}) or {})
    return typer.Typer(context_settings=settings, **kwargs)


class _CurrentStderr(logging.StreamHandler):
    """Writes to whatever sys.stderr is when a record is emitted: a handler that kept the stream
    of its first command would write into a closed one once that command's streams are gone
    (commands run in-process, one after another, in notebooks and tests)."""

    def __init__(self) -> None:
        super().__init__()
        self.setFormatter(logging.Formatter(logging.BASIC_FORMAT))

    @property
    def stream(self):  # the current one, always
        return sys.stderr

    @stream.setter
    def stream(self, _value) -> None:
        pass


# Warning kinds libraries emit in normal runs (deprecations, numpy's "divide by zero" and
# "invalid value" RuntimeWarnings from scipy/sklearn statistics on constant columns): hidden
# unless --verbose when they come from outside affectgpt.
QUIET_WARNINGS = (DeprecationWarning, FutureWarning, PendingDeprecationWarning, UserWarning, RuntimeWarning)
_added_filters: list[tuple] = []  # the warnings filters configure_logging put in, to take back under -v


def configure_logging(verbose: bool = False) -> None:
    """Quiet library chatter (INFO lines, warnings, MLflow's own prints such as "Registered model
    ... already exists") unless the user asked for it; warnings from affectgpt itself stay
    visible. Called by the root callback each run: `-v` takes back what a quiet run put in, so
    commands run in one process (notebooks, tests) get what each asks for."""
    _state["verbose"] = verbose
    # MLflow configures its own loggers when it is imported (after this runs) from this variable;
    # child processes (kfp.local steps, DeepSpeed workers) inherit it. A value the user set wins.
    if "MLFLOW_LOGGING_LEVEL" not in os.environ or _state.get("set_mlflow_level"):
        os.environ["MLFLOW_LOGGING_LEVEL"] = "INFO" if verbose else "ERROR"
        _state["set_mlflow_level"] = True
    _quiet_warnings(not verbose)
    _mlflow_prints(enabled=verbose)
    if not verbose:  # library progress bars for work that is not the command's own (artifact copies, shards)
        os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
        os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    if verbose:
        root = logging.getLogger()
        if not any(isinstance(handler, _CurrentStderr) for handler in root.handlers):
            root.addHandler(_CurrentStderr())
        root.setLevel(logging.INFO)
        for name in NOISY_LOGGERS:
            logging.getLogger(name).setLevel(logging.INFO)
        return
    os.environ.setdefault("DS_BUILD_OPS", "0")
    for name in NOISY_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING if name != "mlflow" else logging.ERROR)


def command_verbose(verbose: bool) -> None:
    """A command's own `-v`: turns library chatter on; leaving it out never turns off the root
    `affectgpt -v` (the root callback has already set the default)."""
    if verbose and not _state["verbose"]:
        configure_logging(True)


def _quiet_warnings(quiet: bool) -> None:
    """Put in (quiet) or take back (verbose) the filters that hide library warnings."""
    for added in _added_filters:
        if added in warnings.filters:
            warnings.filters.remove(added)
    _added_filters.clear()
    if quiet:
        for category in QUIET_WARNINGS:
            warnings.filterwarnings("ignore", category=category, module=r"(?!affectgpt).*")
            _added_filters.append(warnings.filters[0])


def _mlflow_prints(enabled: bool) -> None:
    """MLflow prints some events straight to its own stderr stream, past any logging level
    ("Registered model 'x' already exists. Creating a new version...", "View Logged Model at
    ..."): that stream is switched off unless --verbose (MLflow's error log lines use it too;
    its errors still reach the user as the exceptions the commands report). MLflow is imported
    lazily, after this runs: then the switch is set as soon as it is."""
    module = sys.modules.get("mlflow.utils.logging_utils")
    if module is not None:
        module.MLFLOW_LOGGING_STREAM.enabled = enabled
    elif not any(isinstance(finder, _AfterImport) for finder in sys.meta_path):
        sys.meta_path.insert(0, _AfterImport("mlflow.utils.logging_utils",
                                             lambda loaded: _mlflow_prints(_state["verbose"])))


class _AfterImport(importlib.abc.MetaPathFinder):
    """Runs `callback(module)` right after `name` is first imported, then steps aside."""

    def __init__(self, name: str, callback: Callable[[Any], None]) -> None:
        self.name, self.callback = name, callback

    def find_spec(self, fullname, path, target=None):
        if fullname != self.name:
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(fullname)
        if spec is not None and spec.loader is not None and hasattr(spec.loader, "exec_module"):
            exec_module = spec.loader.exec_module

            def exec_then_call(module) -> None:
                exec_module(module)
                self.callback(module)

            spec.loader.exec_module = exec_then_call
        return spec


@contextlib.contextmanager
def library_prints() -> Iterator[None]:
    """Hide what libraries `print` to stdout (DeepSpeed's "op built successfully") unless
    --verbose; our own output goes through `console`/`err_console` after the call returns."""
    if _state["verbose"]:
        yield
        return
    with contextlib.redirect_stdout(io.StringIO()):
        yield


def fail(error: AffectgptError | str, code: int | None = None) -> None:
    """Print one error line on stderr and exit with the error's documented code."""
    message = str(error)
    exit_code = code if code is not None else (exit_code_for(error) if isinstance(error, BaseException) else 2)
    err_console.print(f"[bold red]error:[/] {escape(message)}", highlight=False)
    raise typer.Exit(exit_code)


def friendly_errors(*extra: type[BaseException]) -> Callable[[F], F]:
    """Decorator: our errors (and the `extra` library errors given, mapped to bad input unless
    they carry `exit_code`) become one line and their exit code instead of a traceback."""
    handled = (AffectgptError, *extra)

    def decorate(command: F) -> F:
        @functools.wraps(command)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            try:
                return command(*args, **kwargs)
            except handled as error:  # type: ignore[misc]
                code = exit_code_for(error)
                fail(error, code if code != 1 else 2)

        return wrapper  # type: ignore[return-value]

    return decorate


def existing(path: Path | None, option: str, kind: Literal["file", "folder", "any"] = "any") -> Path | None:
    """The path given to an input option, checked before any work: nothing there is NotFound
    (exit 4, the one code for a missing input in every command), something of the wrong kind
    is BadInput (exit 2). None (an option left out) passes."""
    if path is None:
        return None
    if not path.exists():
        raise NotFound(f"{option} {path}: not found")
    if kind == "folder" and not path.is_dir():
        raise BadInput(f"{option} {path}: not a folder")
    if kind == "file" and not path.is_file():
        raise BadInput(f"{option} {path}: not a file")
    return path


def say_config(resolved: ResolvedConfig) -> ResolvedConfig:
    """The one dim stderr line that says which config file a command used and why
    (`config: tiny.yaml (packaged: /…/configs/tiny.yaml)`); returns `resolved` for chaining."""
    err_console.print(f"[dim]config: {escape(resolved.describe())}[/]", highlight=False)
    return resolved


def use_config(value: str | os.PathLike | None, default_name: str) -> Path:
    """Resolve a `--config`-style value by the one rule (`paths.find_config`), say which file
    it is, and return its path."""
    return say_config(find_config(value, default_name)).path


def say_path(label: str, path: str | os.PathLike) -> None:
    """`label: /the/path` on one line, never wrapped, so it can be pasted."""
    console.print(f"{label}: {escape(str(path))}", highlight=False)
