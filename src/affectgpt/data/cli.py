"""`affectgpt build ...`: build the MER-Caption dataset, make the demo corpus, pick describers.

    affectgpt build demo-corpus --out demo --n 24
    affectgpt build dataset demo/raw --out data/mer-caption --workers 2
    affectgpt build dataset demo/clip_manifest.parquet --out data/mer-caption --dvc .
    affectgpt build index /data/raw        # the corpus's revision, read by stat alone at submit
    affectgpt build dvc-init --remote s3://bucket/affectgpt --endpoint-url http://minio:9000
    affectgpt build dvc-pull --repo /data/dvc-repo --path raw --rev dvc:<md5>   # what the pull step does
"""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from affectgpt.cli_common import console, existing, friendly_errors, new_app, say_path, use_config

build_app = new_app(help="Build the MER-Caption dataset (ingest, filters, describers, merger, DVC).")


@build_app.command("demo-corpus")
@friendly_errors()
def demo_corpus_command(
    out: Path = typer.Option(..., "--out", "-o", help="folder to write raw/ and clip_manifest.parquet into"),
    n: int = typer.Option(24, "--n", min=1, help="number of clips"),
    seed: int = typer.Option(0, "--seed", help="seed for sentence, face and voice choice"),
) -> None:
    """Generate the demo corpus: real LFW faces, espeak-ng speech, labelled sentences (synthetic)."""
    from affectgpt.data.demo_corpus import make_demo_corpus

    with console.status(f"rendering {n} demo clips"):
        manifest_path = make_demo_corpus(out, n_clips=n, seed=seed)
    say_path(f"wrote {n} clips; clip manifest", manifest_path)


@build_app.command("dataset")
@friendly_errors()
def dataset_command(
    raw: Path = typer.Argument(..., help="folder of clips (mp4 [+ wav] + subtitles.csv) or a clip manifest"),
    out: Path = typer.Option(..., "--out", "-o", help="output folder (under <repo>/data when --dvc is given)"),
    config: str | None = typer.Option(None, "--config", help="build config: a YAML file or a config name "
                                      "(default build.yaml: ./configs/build.yaml, else the packaged one)"),
    workers: int = typer.Option(1, "--workers", min=1, help="worker processes for the per-clip work"),
    dvc: Path | None = typer.Option(None, "--dvc", help="DVC repo root: dvc add + push data/ after the build"),
) -> None:
    """Build mer-caption and mer-caption-plus (Parquet) with a data card, quarantine table and manifest."""
    from affectgpt.data.build import build_dataset

    config_path = use_config(config, "build.yaml")
    result = build_dataset(raw, out, config_path, workers=workers, dvc_repo=dvc, show_progress=True)
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
    say_path("data card", result.paths["data_card_html"])


@build_app.command("select-describers")
@friendly_errors(ValueError)
def select_describers_command(
    pilot: Path = typer.Argument(..., help="human-labelled pilot clips (folder with labels.csv, or a clip manifest)"),
    out: Path = typer.Option(..., "--out", "-o", help="folder for describer_selection.csv/.md"),
    config: str | None = typer.Option(None, "--config", help="build config (lists hf/endpoint candidates): a YAML "
                                      "file or a config name (default build.yaml)"),
) -> None:
    """Score every candidate describer on the pilot set (OV Fs) and print the best per modality."""
    from affectgpt.data.config import load_build_config
    from affectgpt.data.selection import select_describers
    from affectgpt.paths import workspace_dir

    build_config = load_build_config(use_config(config, "build.yaml"))
    cache_dir = build_config.cache_dir or str(workspace_dir() / "build-cache")
    choices, table = select_describers(pilot, build_config, cache_dir, out)
    view = Table(title="describer selection (OV Fs on the pilot set)")
    for column in ("modality", "describer", "version", "ov_fs", "n_scored"):
        view.add_column(column)
    for row in table.itertuples():
        view.add_row(row.modality, row.describer + (" *" if choices[row.modality] == row.describer else ""),
                     row.version, f"{row.ov_fs:.4f}", str(row.n_scored))
    console.print(view)
    console.print("set in the build config: " + ", ".join(f"describers.{m}: {n}" for m, n in choices.items()))


@build_app.command("index")
@friendly_errors()
def index_command(
    folder: Path = typer.Argument(..., help="a folder of clips (the raw corpus) or of MER-UniBench test sets"),
) -> None:
    """Write FOLDER.content-index.json: each file's size, mtime and sha256, so that `pipeline
    submit` names the folder's revision by stat alone instead of reading every byte. Run it after
    the corpus changes; only files whose size or mtime changed are read again."""
    from affectgpt.data.content_index import index_path, write_index
    from affectgpt.progress import step_progress

    folder = existing(folder, "FOLDER", "folder")
    read = 0
    with step_progress("index", None, unit="file") as bar:
        def counted(_: str, was_read: bool) -> None:
            nonlocal read
            read += was_read
            bar.update(1, read=read)

        index = write_index(folder, on_file=counted)
    console.print(f"{len(index.files)} files ({read} read, {len(index.files) - read} unchanged); "
                  f"revision {index.revision()}", highlight=False)
    say_path("content index", index_path(folder))


@build_app.command("dvc-init")
@friendly_errors()
def dvc_init_command(
    repo: Path = typer.Option(Path("."), "--repo", help="repository root"),
    remote: str = typer.Option("../affectgpt-dvc-remote", "--remote",
                               help="remote URL: a local folder (default) or s3://bucket/path, gs://bucket/path"),
    endpoint_url: str | None = typer.Option(
        None, "--endpoint-url", help="an S3-compatible store's address (MinIO, Ceph, ...) for an s3:// remote; "
        "written to the git-ignored .dvc/config.local"),
) -> None:
    """Set up DVC in a repository with a default remote (local folder unless told otherwise).
    Credentials are never written: DVC reads AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY."""
    from affectgpt.data.dvc import init_repo, remote_name_for

    init_repo(repo, remote, endpoint_url=endpoint_url)
    where = f"{remote} at {endpoint_url}" if endpoint_url else remote
    console.print(f"DVC ready in {repo.resolve()} (default remote {remote_name_for(remote)}: {where})",
                  highlight=False)


@build_app.command("dvc-pull")
@friendly_errors()
def dvc_pull_command(
    repo: str = typer.Option(..., "--repo", help="the DVC repository: a folder here or a git URL"),
    path: str = typer.Option(..., "--path", help="the tracked folder's path inside the repository (e.g. raw)"),
    rev: str = typer.Option(..., "--rev", help="the revision to bring: dvc:<md5> (what its .dvc pointer records)"),
    cache: Path | None = typer.Option(None, "--cache", help="where revisions are kept "
                                      "(default: <workspace>/dvc-revisions)"),
) -> None:
    """Bring one revision of a DVC-tracked folder onto this disk, into a folder keyed by the
    revision (all of it or nothing, even when killed); prints that folder. The pipeline's pull
    step does the same."""
    from affectgpt.data.dvc_pull import pull_revision

    say_path(f"{rev}", pull_revision(repo, path, rev, cache))


def register(app: typer.Typer) -> None:
    app.add_typer(build_app, name="build")
