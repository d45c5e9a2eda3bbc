"""`affectgpt features ...`: extract encoder features, create the Feast repo, load tables into it,
serve from it.

    affectgpt features extract clip_manifest.parquet --out features/  # encoder embeddings per clip
    affectgpt features init --repo .affectgpt/feature_repo            # sqlite online store
    affectgpt features init --online redis --redis redis:6379          # cluster overlay
    affectgpt features apply
    affectgpt features ingest features/clip_features.parquet           # + clip_manifest.parquet, predictions.jsonl
    affectgpt features materialize
    affectgpt features training-set labels.parquet --out train_features.parquet
    affectgpt features online demo_00000 demo_00001 [--json]

Errors are one line with the documented exit code (affectgpt.errors): 2 bad input, 4 no such
file or feature repo, 5 a store that does not answer.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from affectgpt.cli_common import Out, Verbose, command_verbose, console, friendly_errors, new_app, say_path
from affectgpt.errors import BadInput, NotFound
from affectgpt.formatting import MISSING, is_missing, percent

features_app = new_app(help="Feature extraction and the Feast feature repo: init, apply, ingest, materialize, "
                       "training sets, online reads.")

Repo = Annotated[Path | None, typer.Option("--repo", help="feature repo folder (default: <workspace>/feature_repo)")]
VALUE_WIDTH = 60


def parse_time(value: str | None, option: str) -> datetime | None:
    """An ISO time (`2026-12-02T04:50:00+00:00`, `...Z`, or naive = UTC)."""
    if value is None:
        return None
    text = value.strip()
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise BadInput(f"{option} {value!r} is not an ISO time such as 2026-12-02T04:50:00+00:00 "
                       "(or ...Z)") from None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


@features_app.command("init")
@friendly_errors(ValueError)
def init_command(
    repo: Repo = None,
    online: Annotated[str, typer.Option("--online", help="online store: sqlite (one machine) or redis (cluster)")
                      ] = "sqlite",
    redis: Annotated[str, typer.Option("--redis", help="Redis connection string when --online redis")
                     ] = "redis:6379",
    verbose: Verbose = False,
) -> None:
    """Write feature_store.yaml, a definitions stub and empty offline tables."""
    command_verbose(verbose)
    from affectgpt.features.repo import init_repo

    say_path("feature repo ready", init_repo(repo, online_store=online, redis_connection=redis))  # type: ignore[arg-type]


@features_app.command("apply")
@friendly_errors(ValueError)
def apply_command(repo: Repo = None, verbose: Verbose = False) -> None:
    """Register the clip entity and the feature views in the repo's registry."""
    command_verbose(verbose)
    from affectgpt.features.store import apply_definitions

    console.print(f"applied feature views: {', '.join(apply_definitions(repo))}", highlight=False)


@features_app.command("ingest")
@friendly_errors(ValueError)
def ingest_command(
    table: Annotated[Path, typer.Argument(help="clip_features.parquet (features extract), a clip manifest, or "
                                          "the predictions JSONL of `affectgpt infer`")],
    repo: Repo = None,
    view: Annotated[list[str] | None, typer.Option("--view", help="only these views (repeatable)")] = None,
    at: Annotated[str | None, typer.Option("--at", help="event time for rows without event_timestamp (ISO; "
                                           "default: the clip's newest row, else now)")] = None,
    no_text_embedding: Annotated[bool, typer.Option("--no-text-embedding",
                                                    help="do not embed subtitles with MiniLM")] = False,
    verbose: Verbose = False,
) -> None:
    """Merge a per-clip table into the offline store: the features it carries update each clip's
    row, the others are kept. Model outputs come only from predictions, never from gold labels."""
    command_verbose(verbose)
    from affectgpt.features.ingest import ingest_table

    if not table.is_file():
        raise NotFound(f"{table}: no such file")
    results = ingest_table(table, views=view, repo_dir=repo, event_timestamp=parse_time(at, "--at"),
                           embed_text=not no_text_embedding)
    summary = Table("view", "rows written", "quarantined", "features not in this table (kept from earlier rows)")
    for name, outcome in results.items():
        if outcome.result is None:
            summary.add_row(name, "0", "0", f"not written: {escape(outcome.skipped_because)}")
        else:
            summary.add_row(name, str(outcome.result.kept), str(len(outcome.result.skipped)),
                            ", ".join(outcome.not_carried) or "-")
    console.print(summary)
    for name, outcome in results.items():
        for record in outcome.result.skipped if outcome.result else []:
            console.print(f"[yellow]quarantined[/yellow] {name} {escape(record.record_id)}: {record.reason} "
                          f"({escape(record.detail)})")
    times = [outcome.result.earliest for outcome in results.values() if outcome.result and outcome.result.earliest]
    if times:
        console.print("serve them online: affectgpt features materialize"
                      + (f" --repo {escape(str(repo))}" if repo else "")
                      + f" --start {min(times).isoformat()}", highlight=False)


@features_app.command("materialize")
@friendly_errors(ValueError)
def materialize_command(
    repo: Repo = None,
    end: Annotated[str | None, typer.Option("--end", help="materialize up to this ISO time (default: now)")] = None,
    start: Annotated[str | None, typer.Option("--start", help="from this ISO time (default: since last run)")] = None,
    verbose: Verbose = False,
) -> None:
    """Load the newest offline values into the online store."""
    command_verbose(verbose)
    from affectgpt.features.store import materialize

    materialize(repo, end=parse_time(end, "--end"), start=parse_time(start, "--start"))
    console.print("materialized")


@features_app.command("training-set")
@friendly_errors(ValueError)
def training_set_command(
    entities: Annotated[Path, typer.Argument(help="Parquet/CSV with clip_id, event_timestamp (+ labels)")],
    out: Out,
    repo: Repo = None,
    feature: Annotated[list[str] | None, typer.Option("--feature", help="view:feature refs (default: all)")] = None,
    verbose: Verbose = False,
) -> None:
    """Point-in-time-correct training set (a Parquet file at --out): no row sees a feature value
    from after its timestamp."""
    command_verbose(verbose)
    import pandas as pd

    from affectgpt.features.store import training_set

    if not entities.is_file():
        raise NotFound(f"{entities}: no such file")
    entity_df = pd.read_csv(entities) if entities.suffix == ".csv" else pd.read_parquet(entities)
    frame = training_set(entity_df, features=feature, repo_dir=repo)
    out.parent.mkdir(parents=True, exist_ok=True)
    frame.to_parquet(out, index=False)
    console.print(f"{len(frame)} rows x {frame.shape[1]} columns", highlight=False)
    say_path("training set", out)


def _show_value(feature: str, value: Any) -> str:
    """A value as a person reads it in one table cell: vectors by their head and size, shares in
    percent, long text cut."""
    if _is_vector(value):
        items = list(value)
        if items and all(isinstance(item, str) for item in items):
            text = ", ".join(items)
        else:
            head = ", ".join(f"{float(item):.3g}" for item in items[:3])
            return f"[{head}{', …' if len(items) > 3 else ''}] ({len(items)} values)"
    elif is_missing(value) and not isinstance(value, str):
        return MISSING
    elif feature.endswith("_ratio"):
        return f"{percent(value)} %"
    else:
        text = str(value)
    return text if len(text) <= VALUE_WIDTH else text[:VALUE_WIDTH - 1] + "…"


def _is_vector(value: Any) -> bool:
    """Lists and arrays (not strings, not numpy scalars, which also have `__array__`)."""
    return isinstance(value, (list, tuple)) or (hasattr(value, "__array__") and getattr(value, "ndim", 0) > 0)


def _json_value(value: Any) -> Any:
    if _is_vector(value):
        return [_json_value(item) for item in list(value)]
    if not isinstance(value, str) and is_missing(value):
        return None
    return value.item() if hasattr(value, "item") else value


@features_app.command("online")
@friendly_errors(ValueError)
def online_command(
    clip_ids: Annotated[list[str], typer.Argument(help="clip ids to look up")],
    repo: Repo = None,
    feature: Annotated[list[str] | None, typer.Option("--feature", help="view:feature refs (default: all)")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="full values as JSON: {clip_id: {view:feature: value}}")
                       ] = False,
    verbose: Verbose = False,
) -> None:
    """The online values of some clips: one row per feature (vectors shown by their head and
    size; --json for every value)."""
    command_verbose(verbose)
    from affectgpt.features.definitions import ENTITY_KEY, feature_refs
    from affectgpt.features.store import online_features

    refs = feature or feature_refs()
    frame = online_features(clip_ids, features=refs, repo_dir=repo)
    view_of = {ref.split(":", 1)[1]: ref.split(":", 1)[0] for ref in refs if ":" in ref}
    records = frame.to_dict(orient="records")
    if as_json:
        document = {str(record[ENTITY_KEY]): {f"{view_of.get(name, '')}:{name}": _json_value(value)
                                              for name, value in record.items() if name != ENTITY_KEY}
                    for record in records}
        console.print_json(json.dumps(document))
        return
    for record in records:
        table = Table("feature", "value", "view", title=f"clip {escape(str(record[ENTITY_KEY]))}",
                      title_justify="left")
        for name, value in record.items():
            if name != ENTITY_KEY:
                table.add_row(name, escape(_show_value(name, value)), view_of.get(name, ""))
        console.print(table)


@features_app.command("extract")
@friendly_errors(ValueError)
def extract_command(
    clip_manifest: Annotated[Path, typer.Argument(help="clip manifest Parquet (clip_id, video_path, audio_path, ...)")],
    out: Out,
    config: Annotated[Path | None, typer.Option(
        "--config", help="model config whose `encoders` section to use (default: tiny random-init encoders)")] = None,
    workers: Annotated[int, typer.Option("--workers", min=1, help="decoding threads feeding the encoders")] = 1,
    media_root: Annotated[Path | None, typer.Option(
        "--media-root", help="folder the manifest's relative media paths start from (default: the raw folder "
                             "the dataset recorded, else the manifest's folder)")] = None,
    verbose: Verbose = False,
) -> None:
    """Encode every clip once with the frozen encoders (frames, faces, audio windows) and cache
    the result in --out (packs/ with index.parquet, clip_features.parquet, manifest.json), so training, the
    feature store and the drift monitor read features instead of video."""
    command_verbose(verbose)
    # The inputs before the encoders' imports (seconds): a typo is refused at once.
    if not clip_manifest.is_file():
        raise NotFound(f"{clip_manifest}: no such clip manifest")
    if config is not None:
        from affectgpt.model.config import load_config

        encoder_cfg = load_config(config).encoders
    else:
        from affectgpt.model.encoder_config import EncoderConfig

        encoder_cfg = EncoderConfig()
    from affectgpt.features.extract import FEATURE_TABLE, extract_features

    manifest = extract_features(clip_manifest, out, encoder_cfg, workers=workers, media_root=media_root)
    reasons = ", ".join(f"{reason} {count}" for reason, count in sorted(manifest.skipped_by_reason.items()))
    console.print(f"kept {manifest.kept} clips, quarantined {len(manifest.skipped)}"
                  + (f" ({reasons})" if reasons else ""), highlight=False)
    say_path("clip features", out / FEATURE_TABLE)


def register(app: typer.Typer) -> None:
    app.add_typer(features_app, name="features")
