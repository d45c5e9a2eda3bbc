"""`affectgpt build ...`: build the MER-Caption dataset, make the demo corpus, pick describers.

    affectgpt build demo-corpus --out demo --n 24
    affectgpt build dataset demo/raw --out data/mer-caption --workers 2
    affectgpt build dataset demo/clip_manifest.parquet --out data/mer-caption --dvc .
"""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

console = Console()
build_app = typer.Typer(help="Build the MER-Caption dataset (ingest, filters, describers, merger, DVC).",
                        no_args_is_help=True)


@build_app.command("demo-corpus")
def demo_corpus_command(
    out: Path = typer.Option(..., "--out", help="folder to write raw/ and clip_manifest.parquet into"),
    n: int = typer.Option(24, "--n", min=1, help="number of clips"),
    seed: int = typer.Option(0, "--seed", help="seed for sentence, face and voice choice"),
) -> None:
    """Generate the demo corpus: real LFW faces, espeak-ng speech, labelled sentences (synthetic)."""
    from affectgpt.data.demo_corpus import DemoCorpusError, make_demo_corpus

    try:
        with console.status(f"rendering {n} demo clips"):
            manifest_path = make_demo_corpus(out, n_clips=n, seed=seed)
    except DemoCorpusError as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(code=2) from None
    console.print(f"wrote {n} clips; clip manifest: {manifest_path}")


@build_app.command("dataset")
def dataset_command(
    raw: Path = typer.Argument(..., help="folder of clips (mp4 [+ wav] + subtitles.csv) or a clip manifest"),
    out: Path = typer.Option(..., "--out", help="output folder (under <repo>/data when --dvc is given)"),
    config: Path | None = typer.Option(None, "--config", help="build config YAML (default configs/build.yaml)"),
    workers: int = typer.Option(1, "--workers", min=1, help="worker processes for the per-clip work"),
    dvc: Path | None = typer.Option(None, "--dvc", help="DVC repo root: dvc add + push data/ after the build"),
) -> None:
    """Build mer-caption and mer-caption-plus (Parquet) with a data card, quarantine table and manifest."""
    from affectgpt.data.build import BuildError, build_dataset
    from affectgpt.data.config import BuildConfigError
    from affectgpt.data.dvc import DVCError
    from affectgpt.data.ingest import IngestError

    try:
        result = build_dataset(raw, out, config, workers=workers, dvc_repo=dvc, show_progress=True)
    except (BuildError, BuildConfigError, IngestError, DVCError) as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(code=2) from None
    table = Table(title=f"MER-Caption build -> {result.out_dir}")
    table.add_column("stage")
    table.add_column("clips", justify="right")
    for stage, n in result.counts.items():
        table.add_row(stage, str(n))
    for reason, n in sorted(result.skipped_by_reason.items()):
        table.add_row(f"quarantined: {reason}", str(n))
    console.print(table)
    console.print(f"computed {result.computed_clips} clips, {result.cached_clips} from cache; "
                  f"{result.timings_s['total']:.1f} s" + (f"; DVC revision {result.dvc_rev}" if result.dvc_rev else ""))
    console.print(f"data card: {result.paths['data_card_html']}")


@build_app.command("select-describers")
def select_describers_command(
    pilot: Path = typer.Argument(..., help="human-labelled pilot clips (folder with labels.csv, or a clip manifest)"),
    out: Path = typer.Option(..., "--out", help="folder for describer_selection.csv/.md"),
    config: Path | None = typer.Option(None, "--config", help="build config YAML (lists hf/endpoint candidates)"),
) -> None:
    """Score every candidate describer on the pilot set (OV Fs) and print the best per modality."""
    from affectgpt.data.config import BuildConfigError, load_build_config
    from affectgpt.data.ingest import IngestError
    from affectgpt.data.selection import select_describers
    from affectgpt.paths import workspace_dir

    try:
        build_config = load_build_config(config)
        cache_dir = build_config.cache_dir or str(workspace_dir() / "build-cache")
        choices, table = select_describers(pilot, build_config, cache_dir, out)
    except (BuildConfigError, IngestError, ValueError) as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(code=2) from None
    view = Table(title="describer selection (OV Fs on the pilot set)")
    for column in ("modality", "describer", "version", "ov_fs", "n_scored"):
        view.add_column(column)
    for row in table.itertuples():
        view.add_row(row.modality, row.describer + (" *" if choices[row.modality] == row.describer else ""),
                     row.version, f"{row.ov_fs:.4f}", str(row.n_scored))
    console.print(view)
    console.print("set in the build config: " + ", ".join(f"describers.{m}: {n}" for m, n in choices.items()))


@build_app.command("dvc-init")
def dvc_init_command(
    repo: Path = typer.Option(Path("."), "--repo", help="repository root"),
    remote: str = typer.Option("../affectgpt-dvc-remote", "--remote",
                               help="remote URL: a local folder (default) or s3://bucket/path, gs://bucket/path"),
) -> None:
    """Set up DVC in a repository with a default remote (local folder unless told otherwise)."""
    from affectgpt.data.dvc import DVCError, init_repo

    try:
        init_repo(repo, remote)
    except DVCError as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(code=2) from None
    console.print(f"DVC ready in {repo.resolve()} (default remote: {remote})")


def register(app: typer.Typer) -> None:
    app.add_typer(build_app, name="build")
