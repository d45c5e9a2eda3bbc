"""The `affectgpt` command line: one typer app that each subsystem adds its commands to.

Every subsystem module `affectgpt.<part>.cli` exposes `register(app)`; this file only wires
them together, so `affectgpt --help` lists everything the platform can do.
"""

from __future__ import annotations

import importlib
import os

import typer

# Offline by design: no hub downloads, no telemetry, CPU DeepSpeed unless told otherwise.
for _key, _value in {
    "HF_HUB_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "DO_NOT_TRACK": "true",
    "DVC_NO_ANALYTICS": "1",
    "KERAS_BACKEND": "torch",
    "TOKENIZERS_PARALLELISM": "false",
}.items():
    os.environ.setdefault(_key, _value)

app = typer.Typer(
    name="affectgpt",
    help=(
        "Keep an AffectGPT emotion model fresh: build the MER-Caption dataset, train with "
        "DeepSpeed, score on MER-UniBench, gate promotions in MLflow, serve features with "
        "Feast and watch drift with Evidently."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
)


@app.callback()
def _root() -> None:
    """Keep an AffectGPT emotion model fresh (see `affectgpt COMMAND --help`)."""


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
