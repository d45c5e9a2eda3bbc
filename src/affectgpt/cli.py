"""The `affectgpt` command line: one typer app that each subsystem adds its commands to.

Every subsystem module `affectgpt.<part>.cli` exposes `register(app)`; this file only wires
them together, so `affectgpt --help` lists everything the platform can do. The root options
(`--verbose/-v`, `--version`, `-h`) follow `affectgpt.cli_common`, the one CLI convention.
"""

from __future__ import annotations

import importlib

import typer

from affectgpt.cli_common import Verbose, configure_logging, new_app
from affectgpt.offline import apply_offline_defaults

# Offline by design: no hub downloads, no telemetry (set before any library reads them).
apply_offline_defaults()

app = new_app(
    name="affectgpt",
    help=(
        "Keep an AffectGPT emotion model fresh: build the MER-Caption dataset, train with "
        "DeepSpeed, score on MER-UniBench, gate promotions in MLflow, serve features with "
        "Feast and watch drift with Evidently."
    ),
)


def _print_version(value: bool) -> None:
    if value:
        from affectgpt import __version__

        typer.echo(__version__)
        raise typer.Exit()


@app.callback()
def _root(
    verbose: Verbose = False,
    version: bool = typer.Option(False, "--version", is_eager=True, callback=_print_version,
                                 help="print the affectgpt version and exit"),
) -> None:
    """Keep an AffectGPT emotion model fresh (see `affectgpt COMMAND --help`).

    Library logs (MLflow, DeepSpeed, deprecation warnings) stay quiet unless --verbose."""
    configure_logging(verbose)


@app.command()
def version() -> None:
    """Print the affectgpt version."""
    from affectgpt import __version__

    typer.echo(__version__)


# Subsystems that add commands. Order is the order of `affectgpt --help`.
SUBSYSTEM_CLIS = [
    "affectgpt.demo_cli",
    "affectgpt.bench.cli",
    "affectgpt.data.cli",
    "affectgpt.features.cli",
    "affectgpt.model.cli",
    "affectgpt.train.cli",
    "affectgpt.registry.cli",
    "affectgpt.monitor.cli",
    "affectgpt.pipeline_cli",
]

for _module_name in SUBSYSTEM_CLIS:
    try:
        _module = importlib.import_module(_module_name)
    except ModuleNotFoundError as exc:
        if exc.name == _module_name:  # subsystem not present in this build
            continue
        raise
    _module.register(app)


if __name__ == "__main__":
    app()
