"""`affectgpt model summary`: parameter counts of a config without loading any weights."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

model_app = typer.Typer(help="Inspect AffectGPT model configs.", no_args_is_help=True)


@model_app.command("summary")
def summary(config: Annotated[Path, typer.Option("--config", help="model YAML, e.g. configs/affectgpt-7b.yaml")]) -> None:
    """Print parameter counts by module (built on the meta device: no download, no memory)."""
    from affectgpt.model.config import ConfigError
    from affectgpt.model.summary import summarize

    console = Console()
    try:
        counts = summarize(config)
    except (ConfigError, ValueError) as exc:
        Console(stderr=True).print(f"[red]error:[/red] {escape(str(exc))}", soft_wrap=True)
        raise typer.Exit(code=2)
    table = Table(title=f"AffectGPT parameters: {config}")
    table.add_column("module")
    table.add_column("parameters", justify="right")
    table.add_column("trainable", justify="right")
    for name, entry in counts.items():
        table.add_row(name, f"{entry['total']:,}", f"{entry['trainable']:,}")
    console.print(table)
    console.print(f"LoRA trainable parameters: {counts.get('llm.lora', {}).get('trainable', 0):,}")


def register(app: typer.Typer) -> None:
    app.add_typer(model_app, name="model")
