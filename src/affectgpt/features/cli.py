"""`affectgpt features ...`: create the Feast repo, load tables into it, serve from it.

    affectgpt features extract clip_manifest.parquet --out features/  # encoder embeddings per clip
    affectgpt features init --repo .affectgpt/feature_repo            # sqlite online store
    affectgpt features init --online redis --redis redis:6379          # cluster overlay
    affectgpt features apply
    affectgpt features ingest features/clip_features.parquet
    affectgpt features materialize
    affectgpt features training-set labels.parquet --out train_features.parquet
    affectgpt features online demo_00000 demo_00001
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

console = Console()
features_app = typer.Typer(help="Feast feature repo: init, apply, ingest, materialize, training sets, online reads.",
                           no_args_is_help=True)

RepoOption = typer.Option(None, "--repo", help="feature repo folder (default: <workspace>/feature_repo)")


@contextmanager
def _user_errors() -> Iterator[None]:
    """Show a user's mistake as one red line (exit 2), not a traceback."""
    from affectgpt.features.repo import FeatureRepoError

    try:
        yield
    except (FeatureRepoError, FileNotFoundError, ValueError, KeyError) as exc:
        console.print(f"[red]error:[/red] {escape(str(exc))}", soft_wrap=True)
        raise typer.Exit(code=2) from None


def _parse_time(value: str | None, option: str) -> datetime | None:
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{option} {value!r} is not an ISO time such as 2025-01-31T12:00:00+00:00") from None
    if parsed.tzinfo is None:

        parsed = parsed.replace(tzinfo=UTC)
    return parsed


@features_app.command("init")
def init_command(
    repo: Path | None = RepoOption,
    online: str = typer.Option("sqlite", "--online", help="online store: sqlite (one machine) or redis (cluster)"),
    redis: str = typer.Option("redis:6379", "--redis", help="Redis connection string when --online redis"),
) -> None:
    """Write feature_store.yaml, a definitions stub and empty offline tables."""
    from affectgpt.features.repo import init_repo

    with _user_errors():
        path = init_repo(repo, online_store=online, redis_connection=redis)  # type: ignore[arg-type]
    console.print(f"feature repo ready: {path}")


@features_app.command("apply")
def apply_command(repo: Path | None = RepoOption) -> None:
    """Register the clip entity and the feature views in the repo's registry."""
    from affectgpt.features.store import apply_definitions

    with _user_errors():
        names = apply_definitions(repo)
    console.print(f"applied feature views: {', '.join(names)}")


@features_app.command("ingest")
def ingest_command(
    table: Path = typer.Argument(..., help="Parquet with clip_id (+ event_timestamp) and feature columns"),
    repo: Path | None = RepoOption,
    view: list[str] | None = typer.Option(None, "--view", help="only these views (repeatable)"),
    at: str | None = typer.Option(None, "--at", help="event time for rows without event_timestamp (ISO)"),
    no_text_embedding: bool = typer.Option(False, "--no-text-embedding", help="do not embed subtitles with MiniLM"),
) -> None:
    """Append a wide per-clip table to the offline store (quarantined rows are listed)."""
    from affectgpt.features.ingest import ingest_table

    with _user_errors():
        if not table.is_file():
            raise FileNotFoundError(f"{table}: no such Parquet file")
        results = ingest_table(table, views=view, repo_dir=repo, event_timestamp=_parse_time(at, "--at"),
                               embed_text=not no_text_embedding)
    summary = Table("view", "rows kept", "quarantined", "left null")
    for name, (result, left_null) in results.items():
        summary.add_row(name, str(result.kept), str(len(result.skipped)), ", ".join(left_null) or "-")
    console.print(summary)
    for name, (result, _) in results.items():
        for record in result.skipped:
            console.print(f"[yellow]quarantined[/yellow] {name} {escape(record.record_id)}: {record.reason} "
                          f"({escape(record.detail)})", soft_wrap=True)


@features_app.command("materialize")
def materialize_command(
    repo: Path | None = RepoOption,
    end: str | None = typer.Option(None, "--end", help="materialize up to this ISO time (default: now)"),
    start: str | None = typer.Option(None, "--start", help="from this ISO time (default: since last run)"),
) -> None:
    """Load the newest offline values into the online store."""
    from affectgpt.features.store import materialize

    with _user_errors():
        materialize(repo, end=_parse_time(end, "--end"), start=_parse_time(start, "--start"))
    console.print("materialized")


@features_app.command("training-set")
def training_set_command(
    entities: Path = typer.Argument(..., help="Parquet/CSV with clip_id, event_timestamp (+ labels)"),
    out: Path = typer.Option(..., "--out", help="Parquet to write"),
    repo: Path | None = RepoOption,
    feature: list[str] | None = typer.Option(None, "--feature", help="view:feature refs (default: all)"),
) -> None:
    """Point-in-time-correct training set: no row sees a feature value from after its timestamp."""
    import pandas as pd

    from affectgpt.features.store import training_set

    with _user_errors():
        if not entities.is_file():
            raise FileNotFoundError(f"{entities}: no such file")
        entity_df = pd.read_csv(entities) if entities.suffix == ".csv" else pd.read_parquet(entities)
        frame = training_set(entity_df, features=feature, repo_dir=repo)
        out.parent.mkdir(parents=True, exist_ok=True)
        frame.to_parquet(out, index=False)
    console.print(f"wrote {len(frame)} rows x {frame.shape[1]} columns to {out}")


@features_app.command("online")
def online_command(
    clip_ids: list[str] = typer.Argument(..., help="clip ids to look up"),
    repo: Path | None = RepoOption,
    feature: list[str] | None = typer.Option(None, "--feature", help="view:feature refs (default: all)"),
) -> None:
    """Print the online values of some clips (embeddings shown by their size)."""
    from affectgpt.features.store import online_features

    with _user_errors():
        frame = online_features(clip_ids, features=feature, repo_dir=repo)
    table = Table(*[str(column) for column in frame.columns])
    for _, row in frame.iterrows():
        table.add_row(*[f"<{len(v)} values>" if isinstance(v, (list, tuple)) else str(v) for v in row])
    console.print(table)


@features_app.command("extract")
def extract_command(
    clip_manifest: Path = typer.Argument(..., help="clip manifest Parquet (clip_id, video_path, audio_path, ...)"),
    out: Path = typer.Option(..., "--out", help="folder for shards/, clip_features.parquet and manifest.json"),
    config: Path | None = typer.Option(
        None, "--config", help="model config whose `encoders` section to use (default: tiny random-init encoders)"
    ),
    workers: int = typer.Option(1, "--workers", min=1, help="decoding threads feeding the encoders"),
) -> None:
    """Encode every clip once with the frozen encoders (frames, faces, audio windows) and cache
    the result per clip, so training and the feature store read features instead of video."""
    from affectgpt.features.extract import extract_features
    from affectgpt.model.encoders import EncoderConfig

    with _user_errors():
        if config is not None:
            from affectgpt.model.config import load_config

            encoder_cfg = load_config(config).encoders
        else:
            encoder_cfg = EncoderConfig()
        manifest = extract_features(clip_manifest, out, encoder_cfg, workers=workers)
    console.print(
        f"kept {manifest.kept} clips, quarantined {len(manifest.skipped)} "
        f"{manifest.skipped_by_reason or ''} -> {escape(str(out))}"
    )


def register(app: typer.Typer) -> None:
    app.add_typer(features_app, name="features")
