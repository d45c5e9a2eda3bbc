"""`affectgpt train` and `affectgpt infer`: thin CLI wrappers over `train_model` and `predict`."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from affectgpt.cli_common import err_console, existing, friendly_errors, library_prints, say_path, use_config
from affectgpt.model.decoding import Decoding


class PromptChoice(str, Enum):
    ov = "ov"
    description = "description"


def _not_found(exc: FileNotFoundError) -> None:
    from affectgpt.errors import NotFound

    raise NotFound(str(exc)) from None


@friendly_errors()
def train(
    data: Annotated[Path, typer.Option("--data", help="folder with mer-caption-plus.parquet / mer-caption.parquet / "
                                       "records.parquet (+ features/)")],
    out: Annotated[Path, typer.Option("--out", "-o", help="output folder: model/, checkpoints/, manifest.json")],
    config: Annotated[str, typer.Option("--config", help="model/training YAML or a config name (tiny.yaml, "
                                        "affectgpt-7b.yaml): ./configs/NAME, else the packaged one")] = "tiny.yaml",
    resume: Annotated[bool, typer.Option("--resume/--no-resume", help="continue from the latest checkpoint in --out")] = True,
) -> None:
    """Train AffectGPT with DeepSpeed; the best-on-validation model lands in OUT/model."""
    config_path = use_config(config, "tiny.yaml")
    existing(data, "--data", "folder")  # before the trainer's imports (seconds)
    from affectgpt.train.run import train_model

    try:
        with library_prints():
            result = train_model(config_path, data, out, resume=resume)
    except FileNotFoundError as exc:
        _not_found(exc)
    err_console.print(f"trained {result.global_step} steps; best val loss: {result.best_val_loss}; "
                      f"MLflow run: {result.mlflow_run_id}", highlight=False)
    say_path("model", result.model_dir)


@friendly_errors(ValueError)
def infer(
    model: Annotated[Path, typer.Option("--model", help="model folder written by `affectgpt train` (OUT/model)")],
    data: Annotated[Path, typer.Option("--data", help="folder with a records Parquet (+ features/)")],
    prompt: Annotated[PromptChoice, typer.Option("--prompt", help="ov: emotion labels; description: reasoning")
                      ] = PromptChoice.ov,
    out: Annotated[Path, typer.Option("--out", "-o", help="predictions JSONL to write")] = Path("predictions.jsonl"),
    batch_size: Annotated[int, typer.Option("--batch-size", min=1)] = 8,
    max_new_tokens: Annotated[int | None, typer.Option("--max-new-tokens", min=1,
                                                       help="default 1200 (upstream's; never cuts descriptions)")] = None,
    decoding: Annotated[Decoding, typer.Option("--decoding", help="greedy: deterministic (platform default); "
                                               "official: upstream's sampling (T 1.0, top-p 0.9, seeded)")
                        ] = Decoding.GREEDY,
    seed: Annotated[int, typer.Option("--seed", help="seed for --decoding official")] = 0,
    split: Annotated[list[str] | None, typer.Option("--split", help="only these splits (repeatable); default all")] = None,
    dataset: Annotated[str | None, typer.Option("--dataset", help="dataset name for records without a 'dataset' "
                                                "column (default: the --data folder name), e.g. mer2023")] = None,
) -> None:
    """Batched generation for every clip with a named decoding preset, written as the JSONL
    `affectgpt bench run` reads (each line names the preset)."""
    from affectgpt.train.infer import check_request, predict

    check_request(split or None, dataset)  # the arguments, then the inputs they name
    existing(model, "--model", "folder")
    existing(data, "--data", "folder")
    try:
        path = predict(model, data, out, prompt=prompt.value, batch_size=batch_size, max_new_tokens=max_new_tokens,
                       splits=split or None, dataset=dataset, decoding=decoding, seed=seed)
    except FileNotFoundError as exc:
        _not_found(exc)
    say_path("predictions", path)


def register(app: typer.Typer) -> None:
    app.command(name="train")(train)
    app.command(name="infer")(infer)
