"""`affectgpt model summary`: parameter counts of a config without loading any weights."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from affectgpt.cli_common import console, existing, friendly_errors, new_app, say_path, use_config

model_app = new_app(help="Inspect AffectGPT model configs.")

ModelConfig = Annotated[str, typer.Option("--config", help="model YAML or a config name, e.g. tiny.yaml or "
                                          "affectgpt-7b.yaml (./configs/NAME, else the packaged one)")]


@model_app.command("summary")
@friendly_errors(ValueError)
def summary(config: ModelConfig) -> None:
    """Print parameter counts by module (built on the meta device: no download, no memory)."""
    from affectgpt.model.summary import summarize

    config_path = use_config(config, "tiny.yaml")
    counts = summarize(config_path)
    table = Table(title=f"AffectGPT parameters: {config_path}")
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
@friendly_errors(ValueError)
def prompt(
    config: ModelConfig,
    subtitle: Annotated[str, typer.Option("--subtitle", help="the clip's subtitle text")] = "",
    question: Annotated[QuestionChoice, typer.Option("--question", help="ov: emotion labels; description: reasoning")
                        ] = QuestionChoice.ov,
) -> None:
    """Print the exact prompt string the model receives at inference (one tokenisation of this
    string), each placeholder repeated as many times as embeddings are spliced there. Training
    prepends the tokenizer's bos (`<|im_start|>` for Qwen2.5) unless configured otherwise."""
    from affectgpt.model.config import load_config
    from affectgpt.model.prompt import prompt_text

    cfg = load_config(use_config(config, "tiny.yaml"))
    text = prompt_text(subtitle, question.value, cfg.prompt.modalities, cfg.tokens_per_modality())
    typer.echo(text, nl=False)
    typer.echo("", err=True)
    typer.echo(f"(bos prepended in training: {cfg.prompt.bos_in_training}; at inference: "
               f"{cfg.prompt.bos_at_inference})", err=True)


@model_app.command("import-official")
@friendly_errors(ValueError)
def import_official_checkpoint(
    checkpoint: Annotated[Path, typer.Option("--checkpoint", help="released AffectGPT checkpoint (.pth or .safetensors)")],
    config: Annotated[str, typer.Option("--config", help="model YAML matching the checkpoint, or a config name, "
                                        "e.g. affectgpt-7b.yaml")],
    out: Annotated[Path, typer.Option("--out", "-o", help="model folder to write (what `affectgpt infer --model` reads)")],
) -> None:
    """Map an official checkpoint (LoRA, projectors, pooling, fusion, by upstream names) onto this
    model and write a model folder. Unknown or missing keys are an error that lists them."""
    from affectgpt.errors import NotFound

    existing(checkpoint, "--checkpoint", "file")  # before torch is imported (seconds)
    config_path = use_config(config, "affectgpt-7b.yaml")
    from affectgpt.model.official import import_official

    try:
        path = import_official(checkpoint, config_path, out)
    except FileNotFoundError as exc:
        raise NotFound(str(exc)) from None
    say_path("model folder", path)


def register(app: typer.Typer) -> None:
    app.add_typer(model_app, name="model")
