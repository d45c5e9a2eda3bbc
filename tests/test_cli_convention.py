"""One CLI convention for every `affectgpt` command, checked on the real command tree.

Walking `typer.main.get_command(app)` means a command added later is checked too: `-h` works,
output options are spelled `--out`, `-v` only ever means `--verbose`, and the commands named in
messages exist. Configs resolve by one rule (flag > ./configs > packaged) and say which file
they used; commands that only read never leave a workspace or an MLflow store behind.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from affectgpt import __version__
from affectgpt.cli import app
from affectgpt.errors import NotFound
from affectgpt.paths import PACKAGED_CONFIGS, find_config

SRC = Path(__file__).resolve().parents[1] / "src" / "affectgpt"
OLD_OUTPUT_SPELLINGS = {"--output", "--report", "--output-dir", "--out-dir", "--outdir", "--report-dir"}


def _commands(command=None, path=()):
    """(path, click command) for the root and every group and command below it."""
    command = command or typer.main.get_command(app)
    yield path, command
    for name, sub in getattr(command, "commands", {}).items():
        yield from _commands(sub, (*path, name))


def _visible_options(command):
    return [param for param in command.params if param.param_type_name == "option" and not param.hidden]


ALL_COMMANDS = list(_commands())


def test_the_walk_sees_the_whole_tree():
    paths = {" ".join(path) for path, _ in ALL_COMMANDS}
    assert {"", "bench run", "registry review", "build dataset", "train", "model summary"} <= paths
    assert len(paths) > 30


@pytest.mark.parametrize("path", [path for path, _ in ALL_COMMANDS], ids=lambda path: " ".join(path) or "root")
def test_dash_h_is_help_everywhere(path):
    result = CliRunner().invoke(app, [*path, "-h"])
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.output and "--help" in result.output


def test_output_options_are_out_and_v_is_verbose():
    problems = []
    for path, command in ALL_COMMANDS:
        where = "affectgpt " + " ".join(path)
        for option in _visible_options(command):
            names = set(option.opts) | set(option.secondary_opts)
            if names & OLD_OUTPUT_SPELLINGS:
                problems.append(f"{where}: {sorted(names & OLD_OUTPUT_SPELLINGS)} (use --out)")
            if "-v" in names and "--verbose" not in names:
                problems.append(f"{where}: -v is {sorted(names)} (-v means --verbose)")
            if "-o" in names and "--out" not in names:
                problems.append(f"{where}: -o is {sorted(names)} (-o means --out)")
    assert not problems, "\n".join(problems)


def test_old_output_spellings_still_work_but_are_deprecated(tmp_path):
    samples = tmp_path / "samples.jsonl"
    samples.write_text('{"name": "a", "gt": "happy", "pred": "happy"}\n')
    out = tmp_path / "scores.json"
    result = CliRunner().invoke(app, ["bench", "score", "--task", "ov", "--input", str(samples), "--output", str(out)])
    assert result.exit_code == 0, result.output
    assert out.is_file() and "--output is deprecated; use --out" in result.stderr
    both = CliRunner().invoke(app, ["bench", "score", "--task", "ov", "--input", str(samples), "--output", str(out),
                                    "--out", str(out)])
    assert both.exit_code == 2 and "give the output once" in both.stderr


def test_version_flag_and_command_print_the_version():
    runner = CliRunner()
    for args in (["--version"], ["version"]):
        result = runner.invoke(app, args)
        assert result.exit_code == 0 and result.stdout.strip() == __version__, (args, result.output)


def test_commands_named_in_messages_exist():
    """Every `affectgpt WORD [WORD]` quoted in the source names a real command (or group)."""
    root = typer.main.get_command(app)
    missing = set()
    for source in SRC.rglob("*.py"):
        for words in re.findall(r"`affectgpt ((?:[a-z][a-z0-9-]*)(?: [a-z][a-z0-9-]*)?)", source.read_text()):
            command = root
            for word in words.split():
                commands = getattr(command, "commands", None)
                if commands is None:
                    break  # a command's argument, e.g. `affectgpt train ...`
                if word not in commands:
                    missing.add(f"{source.relative_to(SRC)}: `affectgpt {words}`")
                    break
                command = commands[word]
    assert not missing, sorted(missing)


# --- configs: explicit flag > ./configs/NAME > packaged -------------------------------------


def test_config_resolution_order(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    packaged = find_config(None, "tiny.yaml")
    assert packaged.source == "packaged" and packaged.path == PACKAGED_CONFIGS / "tiny.yaml"
    assert find_config("tiny.yaml", "tiny.yaml").source == "packaged"

    (tmp_path / "configs").mkdir()
    (tmp_path / "configs" / "tiny.yaml").write_text((PACKAGED_CONFIGS / "tiny.yaml").read_text())
    for value in (None, "tiny.yaml"):
        project = find_config(value, "tiny.yaml")
        assert project.source == "project" and project.path == Path("configs/tiny.yaml")
    assert project.describe() == "tiny.yaml (project: ./configs/tiny.yaml)"

    mine = tmp_path / "mine.yaml"
    mine.write_text("name: mine\n")
    flagged = find_config(mine, "tiny.yaml")
    assert flagged.source == "flag" and flagged.path == mine

    with pytest.raises(NotFound, match=r"config 'nope.yaml' not found.*tiny\.yaml"):
        find_config("nope.yaml", "tiny.yaml")
    with pytest.raises(NotFound):
        find_config(tmp_path / "missing" / "tiny.yaml", "tiny.yaml")  # a path is never a name


def test_a_command_says_which_config_it_used(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    args = ["model", "prompt", "--config", "tiny.yaml", "--subtitle", "hi"]
    packaged = runner.invoke(app, args)
    assert packaged.exit_code == 0, packaged.output
    lines = [line for line in packaged.stderr.splitlines() if line.startswith("config:")]
    assert lines == [f"config: tiny.yaml (packaged: {PACKAGED_CONFIGS / 'tiny.yaml'})"]
    assert "config:" not in packaged.stdout  # stdout stays the prompt alone

    (tmp_path / "configs").mkdir()
    (tmp_path / "configs" / "tiny.yaml").write_text((PACKAGED_CONFIGS / "tiny.yaml").read_text())
    project = runner.invoke(app, args)
    assert project.exit_code == 0, project.output
    assert "config: tiny.yaml (project: ./configs/tiny.yaml)" in project.stderr

    unknown = runner.invoke(app, ["model", "prompt", "--config", "nope.yaml"])
    assert unknown.exit_code == 4 and "the package ships:" in unknown.stderr and "Traceback" not in unknown.output


# --- read-only commands never create a workspace or a store ---------------------------------


READ_ONLY = [
    ["registry", "review", "-m", "affectgpt", "--version", "1"],
    ["registry", "history", "-m", "affectgpt"],
    ["registry", "verify", "-m", "affectgpt"],
    ["registry", "approve", "-m", "affectgpt", "--version", "1", "--comment", "ok", "--reviewer", "bob"],
    ["registry", "promote", "-m", "affectgpt", "--version", "1"],
    ["registry", "rollback", "-m", "affectgpt"],
    ["registry", "unlock", "-m", "affectgpt"],
]


def _left_behind(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*")
                  if p.name in (".affectgpt", "mlflow.db", "mlruns", "mlartifacts"))


@pytest.mark.parametrize("args", READ_ONLY, ids=lambda args: " ".join(args[:2]))
def test_registry_commands_on_a_missing_store_create_nothing(args, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("AFFECTGPT_HOME", raising=False)
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 4, result.output
    assert f"no registry at {tmp_path / '.affectgpt' / 'mlflow.db'}" in result.stderr
    assert "run `make run` or pass --tracking-uri" in result.stderr
    elsewhere = tmp_path / "elsewhere" / "mlflow.db"
    explicit = CliRunner().invoke(app, [*args, "--tracking-uri", f"sqlite:///{elsewhere}"])
    assert explicit.exit_code == 4 and f"no registry at {elsewhere}" in explicit.stderr
    assert _left_behind(tmp_path) == []


def test_bench_readers_create_nothing(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("AFFECTGPT_HOME", raising=False)
    samples = tmp_path / "samples.jsonl"
    samples.write_text('{"name": "a", "gt": "happy", "pred": "happy"}\n')
    runner = CliRunner()
    assert runner.invoke(app, ["bench", "score", "--task", "ov", "--input", str(samples)]).exit_code == 0
    missing = runner.invoke(app, ["bench", "check-sets", str(tmp_path / "nowhere")])
    assert missing.exit_code == 4 and "test-set folder not found" in missing.stderr
    assert _left_behind(tmp_path) == []


# --- a missing input is "not found" (exit 4) in every command ---------------------------------

# (command, the missing input's place in it) for every command that reads a file or folder it is
# given; MISSING stands for a path where nothing is, OK_DIR / OK_FILE for ones that exist. Each
# stops at argument checking (nothing loads a model or starts a step).
MISSING_INPUTS = [
    (["train", "--data", "{MISSING}", "--out", "{OUT}"], "--data"),
    (["train", "--data", "{OK_DIR}", "--out", "{OUT}", "--config", "{MISSING}.yaml"], "--config"),
    (["infer", "--model", "{MISSING}", "--data", "{OK_DIR}"], "--model"),
    (["infer", "--model", "{OK_DIR}", "--data", "{MISSING}"], "--data"),
    (["bench", "score", "--task", "ov", "--input", "{MISSING}"], "--input"),
    (["bench", "run", "--predictions", "{MISSING}", "--datasets", "mer2023", "--out", "{OUT}"], "--predictions"),
    (["bench", "run", "--predictions", "{OK_DIR}", "--datasets", "mer2023", "--out", "{OUT}", "--labels",
      "{MISSING}"], "--labels"),
    (["bench", "run", "--predictions", "{OK_DIR}", "--datasets", "local={MISSING}.parquet", "--out", "{OUT}"],
     "local="),
    (["bench", "check-sets", "{MISSING}"], "unibench"),
    (["bench", "eval", "--model", "{MISSING}", "--unibench", "{OK_DIR}", "--out", "{OUT}"], "--model"),
    (["bench", "eval", "--model", "{OK_DIR}", "--unibench", "{MISSING}", "--out", "{OUT}"], "--unibench"),
    (["build", "dataset", "{MISSING}", "--out", "{OUT}"], "raw"),
    (["build", "dataset", "{OK_DIR}", "--out", "{OUT}", "--config", "{MISSING}.yaml"], "--config"),
    (["build", "select-describers", "{MISSING}", "--out", "{OUT}"], "pilot"),
    (["features", "ingest", "{MISSING}"], "table"),
    (["features", "training-set", "{MISSING}", "--out", "{OUT}"], "entities"),
    (["features", "extract", "{MISSING}", "--out", "{OUT}"], "clip_manifest"),
    (["features", "extract", "{OK_FILE}", "--out", "{OUT}", "--config", "{MISSING}.yaml"], "--config"),
    (["model", "summary", "--config", "{MISSING}.yaml"], "--config"),
    (["model", "prompt", "--config", "{MISSING}.yaml"], "--config"),
    (["model", "import-official", "--checkpoint", "{MISSING}", "--config", "tiny.yaml", "--out", "{OUT}"],
     "--checkpoint"),
    (["registry", "register", "-m", "m", "--train-dir", "{MISSING}"], "--train-dir"),
    (["registry", "register", "-m", "m", "--run-id", "r", "--data-rev", "d", "--code-rev", "c", "--config-hash", "h",
      "--scores", "{MISSING}"], "--scores"),
    (["drift", "report", "--reference", "{MISSING}", "--current", "{OK_FILE}", "--out", "{OUT}"], "--reference"),
    (["drift", "report", "--reference", "{OK_FILE}", "--current", "{MISSING}", "--out", "{OUT}"], "--current"),
    (["drift", "report", "--reference", "{OK_FILE}", "--current", "{OK_FILE}", "--out", "{OUT}", "--config",
      "{MISSING}.yaml"], "--config"),
    (["pipeline", "run", "retrain", "--local", "-p", "raw_dir={MISSING}"], "raw_dir"),
    (["cluster", "train-job", "--config", "{MISSING}.yaml", "--data", "/data/d", "--out", "/data/o"], "--config"),
    (["cluster", "preflight", "--overlay", "{MISSING}"], "--overlay"),
    (["cluster", "preflight", "--overlay", "{OK_DIR}", "--pipelines", "{MISSING}"], "--pipelines"),
]


@pytest.mark.parametrize("args, what", MISSING_INPUTS, ids=lambda item: " ".join(item[:2]) if isinstance(item, list)
                         else item)
def test_a_missing_input_is_not_found_exit_4_in_every_command(args, what, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("AFFECTGPT_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    ok_dir, ok_file, missing = tmp_path / "here", tmp_path / "here.parquet", tmp_path / "nowhere" / "input"
    ok_dir.mkdir()
    ok_file.write_bytes(b"")
    filled = [arg.format(MISSING=missing, OK_DIR=ok_dir, OK_FILE=ok_file, OUT=tmp_path / "out") for arg in args]
    result = CliRunner().invoke(app, filled)
    assert result.exit_code == 4, (what, result.output)
    assert str(missing) in result.stderr and "Traceback" not in result.output
    assert not (tmp_path / "out").exists()
