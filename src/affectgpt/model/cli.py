"""`affectgpt model summary`: parameter counts of a config without loading any weights."""

from __future__ import annotations

from enum import Enum
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


class QuestionChoice(str, Enum):
    ov = "ov"
    description = "description"


@model_app.command("prompt")
def prompt(
    config: Annotated[Path, typer.Option("--config", help="model YAML, e.g. configs/affectgpt-7b.yaml")],
    subtitle: Annotated[str, typer.Option("--subtitle", help="the clip's subtitle text")] = "",
    question: Annotated[QuestionChoice, typer.Option("--question", help="ov: emotion labels; description: reasoning")
                        ] = QuestionChoice.ov,
) -> None:
    """Print the exact prompt string the model receives at inference (one tokenisation of this
    string), each placeholder repeated as many times as embeddings are spliced there. Training
    prepends the tokenizer's bos (`<|im_start|>` for Qwen2.5) unless configured otherwise."""
    from affectgpt.model.config import ConfigError, load_config
    from affectgpt.model.prompt import prompt_text

    try:
        cfg = load_config(config)
    except (ConfigError, ValueError) as exc:
        Console(stderr=True).print(f"[red]error:[/red] {escape(str(exc))}", soft_wrap=True)
        raise typer.Exit(code=2)
    text = prompt_text(subtitle, question.value, cfg.prompt.modalities, cfg.tokens_per_modality())
    typer.echo(text, nl=False)
    typer.echo("", err=True)
    typer.echo(f"(bos prepended in training: {cfg.prompt.bos_in_training}; at inference: "
               f"{cfg.prompt.bos_at_inference})", err=True)


@model_app.command("import-official")
def import_official_checkpoint(
    checkpoint: Annotated[Path, typer.Option("--checkpoint", help="released AffectGPT checkpoint (.pth or .safetensors)")],
    config: Annotated[Path, typer.Option("--config", help="model YAML matching the checkpoint, e.g. configs/affectgpt-7b.yaml")],
    out: Annotated[Path, typer.Option("--out", help="model folder to write (what `affectgpt infer --model` reads)")],
) -> None:
    """Map an official checkpoint (LoRA, projectors, pooling, fusion, by upstream names) onto this
    model and write a model folder. Unknown or missing keys are an error that lists them."""
    from affectgpt.model.config import ConfigError
    from affectgpt.model.official import import_official

    try:
        path = import_official(checkpoint, config, out)
    except (ConfigError, ValueError, FileNotFoundError) as exc:
        Console(stderr=True).print(f"[red]error:[/red] {escape(str(exc))}", soft_wrap=True)
        raise typer.Exit(code=2)
    Console().print(f"model folder: {path}")


def register(app: typer.Typer) -> None:
    app.add_typer(model_app, name="model")
