"""`affectgpt train` and `affectgpt infer`: thin CLI wrappers over `train_model` and `predict`."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

_console = Console(stderr=True)


class PromptChoice(str, Enum):
    ov = "ov"
    description = "description"


class DecodingChoice(str, Enum):
    greedy = "greedy"
    official = "official"


def _user_error(exc: Exception) -> None:
    _console.print(f"[red]error:[/red] {escape(str(exc))}", soft_wrap=True)
    raise typer.Exit(code=2)


def train(
    config: Annotated[Path, typer.Option("--config", help="model/training YAML (configs/tiny.yaml, configs/affectgpt-7b.yaml)")],
    data: Annotated[Path, typer.Option("--data", help="folder with mer-caption-plus.parquet / mer-caption.parquet / "
                                       "records.parquet (+ features/)")],
    out: Annotated[Path, typer.Option("--out", help="output folder: model/, checkpoints/, manifest.json")],
    resume: Annotated[bool, typer.Option("--resume/--no-resume", help="continue from the latest checkpoint in --out")] = True,
) -> None:
    """Train AffectGPT with DeepSpeed; the best-on-validation model lands in OUT/model."""
    from affectgpt.model.config import ConfigError
    from affectgpt.train.data import DataError
    from affectgpt.train.run import train_model

    try:
        result = train_model(config, data, out, resume=resume)
    except (ConfigError, DataError, FileNotFoundError) as exc:
        _user_error(exc)
    _console.print(f"trained {result.global_step} steps; model: {result.model_dir}; "
                   f"best val loss: {result.best_val_loss}; MLflow run: {result.mlflow_run_id}")


def infer(
    model: Annotated[Path, typer.Option("--model", help="model folder written by `affectgpt train` (OUT/model)")],
    data: Annotated[Path, typer.Option("--data", help="folder with a records Parquet (+ features/)")],
    prompt: Annotated[PromptChoice, typer.Option("--prompt", help="ov: emotion labels; description: reasoning")
                      ] = PromptChoice.ov,
    out: Annotated[Path, typer.Option("--out", help="predictions JSONL to write")] = Path("predictions.jsonl"),
    batch_size: Annotated[int, typer.Option("--batch-size", min=1)] = 8,
    max_new_tokens: Annotated[int | None, typer.Option("--max-new-tokens", min=1,
                                                       help="default 1200 (upstream's; never cuts descriptions)")] = None,
    decoding: Annotated[DecodingChoice, typer.Option("--decoding", help="greedy: deterministic (platform default); "
                                                     "official: upstream's sampling (T 1.0, top-p 0.9, seeded)")
                        ] = DecodingChoice.greedy,
    seed: Annotated[int, typer.Option("--seed", help="seed for --decoding official")] = 0,
    split: Annotated[list[str] | None, typer.Option("--split", help="only these splits (repeatable); default all")] = None,
    dataset: Annotated[str | None, typer.Option("--dataset", help="dataset name for records without a 'dataset' "
                                                "column (default: the --data folder name), e.g. mer2023")] = None,
) -> None:
    """Batched generation for every clip with a named decoding preset, written as the JSONL
    `affectgpt bench run` reads (each line names the preset)."""
    from affectgpt.train.data import DataError
    from affectgpt.train.infer import predict

    try:
        path = predict(model, data, out, prompt=prompt.value, batch_size=batch_size, max_new_tokens=max_new_tokens,
                       splits=split or None, dataset=dataset, decoding=decoding.value, seed=seed)
    except (DataError, FileNotFoundError, ValueError) as exc:
        _user_error(exc)
    _console.print(f"predictions: {path}")


def register(app: typer.Typer) -> None:
    app.command(name="train")(train)
    app.command(name="infer")(infer)
