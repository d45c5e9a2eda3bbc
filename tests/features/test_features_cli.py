"""`affectgpt features` and `affectgpt drift` follow the CLI convention: `-h`, `--out`, one error
line with the documented exit code (2 bad input, 4 not found), paths printed whole."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from affectgpt.cli import app

runner = CliRunner()


def test_help_short_flag_on_groups_and_commands() -> None:
    for args in (["features", "-h"], ["features", "online", "-h"], ["drift", "-h"], ["drift", "report", "-h"]):
        result = runner.invoke(app, args)
        assert result.exit_code == 0 and "Usage" in result.output, (args, result.output)
    assert "--out" in runner.invoke(app, ["features", "extract", "-h"]).output
    assert "--json" in runner.invoke(app, ["features", "online", "-h"]).output


def test_errors_are_one_line_with_documented_codes(tmp_path: Path) -> None:
    missing = runner.invoke(app, ["features", "ingest", str(tmp_path / "nope.parquet"), "--repo", str(tmp_path)])
    assert missing.exit_code == 4 and "no such file" in missing.output and "Traceback" not in missing.output
    extract = runner.invoke(app, ["features", "extract", str(tmp_path / "nope.parquet"), "--out", str(tmp_path / "f")])
    assert extract.exit_code == 4 and "no such clip manifest" in extract.output
    bad_time = runner.invoke(app, ["features", "materialize", "--repo", str(tmp_path), "--end", "yesterday"])
    assert bad_time.exit_code == 2 and "not an ISO time" in bad_time.output
    no_repo = runner.invoke(app, ["features", "online", "clip_a", "--repo", str(tmp_path / "none")])
    assert no_repo.exit_code == 4 and "features init" in no_repo.output
    bad_view = runner.invoke(app, ["drift", "report", "--reference", "feast:nosuchview@" + str(tmp_path),
                                   "--current", "x.parquet", "--out", str(tmp_path / "r")])
    assert bad_view.exit_code in (2, 4) and "Traceback" not in bad_view.output


def test_paths_are_printed_whole_on_a_narrow_terminal(tmp_path: Path) -> None:
    repo = tmp_path / "a_rather_long_folder_name_for_the_feature_repository" / "feature_repo"
    result = runner.invoke(app, ["features", "init", "--repo", str(repo)], terminal_width=40)
    assert result.exit_code == 0, result.output
    assert f"feature repo ready: {repo}" in result.output.replace("\r", "")


def test_an_online_store_that_does_not_answer_is_unavailable(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    assert runner.invoke(app, ["features", "init", "--repo", str(repo), "--online", "redis",
                               "--redis", "127.0.0.1:1"]).exit_code == 0
    assert runner.invoke(app, ["features", "apply", "--repo", str(repo)]).exit_code == 0
    result = runner.invoke(app, ["features", "online", "clip_a", "--repo", str(repo)])
    assert result.exit_code == 5, result.output
    assert "did not answer" in result.output and "Traceback" not in result.output


def test_materialize_without_an_offline_table_names_it_and_the_command_that_writes_it(tmp_path: Path) -> None:
    """As the cluster's materialisation job meets a data volume nothing was ingested into yet:
    one line, exit 4, not Feast's reader failing with a traceback."""
    repo = tmp_path / "repo"
    assert runner.invoke(app, ["features", "init", "--repo", str(repo)]).exit_code == 0
    (repo / "data" / "clip_metadata.parquet").unlink()
    result = runner.invoke(app, ["features", "materialize", "--repo", str(repo)])
    assert result.exit_code == 4, result.output
    assert "no offline table data/clip_metadata.parquet" in result.output and "features ingest" in result.output
    assert "Traceback" not in result.output
