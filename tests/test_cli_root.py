import re

from typer.testing import CliRunner

from affectgpt.cli import app


def test_root_help_lists_commands():
    result = CliRunner().invoke(app, ["--help"])
    assert result.exit_code == 0
    assert "MER-UniBench" in result.output


def test_root_options_are_verbose_version_and_dash_h():
    result = CliRunner().invoke(app, ["-h"])
    assert result.exit_code == 0
    for option in ("--verbose", "-v", "--version", "--help", "-h"):
        assert re.search(rf"(^|\s){re.escape(option)}(\s|$)", result.output, re.MULTILINE), option


def test_verbose_is_accepted_before_any_command():
    from affectgpt import __version__

    result = CliRunner().invoke(app, ["-v", "version"])
    assert result.exit_code == 0 and result.stdout.strip() == __version__


# A child process (warnings reach stderr there; pytest records them in-process) runs one command
# that triggers library chatter, quiet and then with -v, and passes on what MLflow prints straight
# to its stream (the channel of "Registered model ... already exists"), MLflow being imported
# after the root callback ran, as in a real command.
CHATTER_CHILD = r"""
import sys
import numpy as np, pandas as pd
from affectgpt.cli import app

folder = sys.argv[1]
n = 40
for name in ("reference", "current"):  # constant embeddings: sklearn's PCA divides by a zero variance
    pd.DataFrame({"clip_id": [f"{name}{i}" for i in range(n)], "duration_s": np.linspace(1, 5, n),
                  "face_emb": list(np.zeros((n, 4), dtype=np.float32))}).to_parquet(f"{folder}/{name}.parquet")
with open(f"{folder}/monitoring.yaml", "w") as config:
    config.write("text: {content_drift: false, descriptors: [length]}\nembeddings: {plot_components: 1}\n")
for flags in ([], ["-v"]):
    print(f"=== run {flags}", file=sys.stderr, flush=True)
    try:
        app([*flags, "drift", "report", "--reference", f"{folder}/reference.parquet", "--current",
             f"{folder}/current.parquet", "--out", f"{folder}/out{len(flags)}", "--config", f"{folder}/monitoring.yaml"],
            standalone_mode=False)
    except SystemExit:
        pass
    from mlflow.utils.logging_utils import eprint

    eprint("Registered model 'demo' already exists. Creating a new version of this model...")
"""


def test_library_chatter_only_with_verbose(tmp_path):
    import os
    import subprocess
    import sys
    from pathlib import Path

    import affectgpt

    env = {key: value for key, value in os.environ.items()
           if key not in ("MLFLOW_TRACKING_URI", "MLFLOW_LOGGING_LEVEL", "PYTHONWARNINGS")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(Path(affectgpt.__file__).resolve().parents[1]),
                                                     env.get("PYTHONPATH")]))  # this checkout's code
    done = subprocess.run([sys.executable, "-c", CHATTER_CHILD, str(tmp_path)], env=env, capture_output=True,
                          text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    quiet, verbose = done.stderr.split("=== run ['-v']")
    assert "decision:" in done.stdout  # the command ran both times
    assert "RuntimeWarning" not in quiet and "already exists" not in quiet, quiet
    assert "RuntimeWarning" in verbose and "invalid value encountered in divide" in verbose, verbose
    assert "Registered model 'demo' already exists" in verbose
