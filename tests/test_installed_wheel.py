"""The built wheel, installed into a fresh venv (no editable install, no checkout on the path),
runs the steps' entry points from a temporary directory exactly as from a clone: packaged
configs resolve, registry defaults work against a local store, the model and bench commands
run, and the code revision comes from the wheel's build metadata.

The fresh venv reuses the already-installed stack through a `.pth` line that appends this
venv's site-packages (a directory added by a `.pth` is not scanned for further `.pth` files, so
the clone's editable-install finder stays inactive); only the wheel is installed into it.
Each entry point is one row of ENTRY_POINTS: a new step is one more row.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
from dataclasses import dataclass
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

CLONE = Path(__file__).resolve().parents[1]


@dataclass
class Installed:
    venv: Path
    site_packages: Path
    work: Path  # the cwd of every command: neither the clone nor inside it
    env: dict[str, str]
    expected_version: str

    def run(self, *argv: str, timeout: float = 120) -> subprocess.CompletedProcess:
        program = [str(self.venv / "bin" / argv[0]), *argv[1:]] if argv[0] in ("affectgpt", "python") else list(argv)
        result = subprocess.run(program, cwd=self.work, env=self.env, capture_output=True, text=True,
                                timeout=timeout, check=False)
        assert result.returncode == 0, f"{' '.join(argv)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}"
        return result

    def python(self, code: str) -> str:
        return self.run("python", "-c", code).stdout


def _git(*args: str) -> str:
    return subprocess.run(["git", "-C", str(CLONE), *args], capture_output=True, text=True, check=True).stdout.strip()


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Installed:
    root = tmp_path_factory.mktemp("installed-wheel")
    # Build the wheel from the clone as a release would (its git state goes into the build
    # info); build folders go to the temp dir so no stale build/lib can leak into the wheel.
    extra = root / "build.cfg"
    extra.write_text(f"[build]\nbuild_base = {root / 'build'}\n[egg_info]\negg_base = {root}\n"
                     f"[bdist_wheel]\nbdist_dir = {root / 'bdist'}\n")
    clean_env = {k: v for k, v in os.environ.items() if k not in (
        "PYTHONPATH", "AFFECTGPT_BUILD_COMMIT", "AFFECTGPT_BUILD_DIRTY", "VIRTUAL_ENV", "AFFECTGPT_HOME",
        "MLFLOW_TRACKING_URI")}
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-q",
                    "-w", str(root / "dist"), str(CLONE)], check=True, env={**clean_env, "DIST_EXTRA_CONFIG": str(extra)},
                   capture_output=True, timeout=180)
    wheel = next((root / "dist").glob("affectgpt-*.whl"))

    venv = root / "fresh"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=60)
    site_packages = Path(subprocess.run([str(venv / "bin" / "python"), "-c",
                                         "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                                        capture_output=True, text=True, check=True, env=clean_env).stdout.strip())
    (site_packages / "zz_stack.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run([sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"), "install", "--no-deps",
                    "--no-index", "-q", str(wheel)], check=True, env=clean_env, capture_output=True, timeout=180)

    work = root / "work"
    work.mkdir()
    # No AFFECTGPT_HOME, no MLFLOW_TRACKING_URI: the defaults (the workspace under the cwd) apply.
    env = {**clean_env, "PATH": f"{venv / 'bin'}:{clean_env.get('PATH', '')}"}
    commit = _git("rev-parse", "HEAD")[:12]
    dirty = "-dirty" if _git("status", "--porcelain", "--untracked-files=no") else ""
    version = subprocess.run([sys.executable, "-c", "import affectgpt; print(affectgpt.__version__)"],
                             capture_output=True, text=True, check=True).stdout.strip()
    return Installed(venv, site_packages, work, env, f"{version}+g{commit}{dirty}")


def test_the_package_is_the_installed_wheel_not_the_clone(installed):
    where = json.loads(installed.python(
        "import json, affectgpt, affectgpt.paths as p; "
        "print(json.dumps({'file': affectgpt.__file__, 'checkout': p.is_source_checkout()}))"))
    assert Path(where["file"]).is_relative_to(installed.site_packages), where
    assert not Path(where["file"]).resolve().is_relative_to(CLONE)
    assert where["checkout"] is False


def test_the_wheel_installs_only_its_own_top_level_names(installed):
    """Nothing lands in site-packages under a generic name another project could own."""
    record = next(installed.site_packages.glob("affectgpt-*.dist-info")) / "RECORD"
    tops = {line.split(",", 1)[0].split("/", 1)[0] for line in record.read_text().splitlines()}
    tops = {top for top in tops if not top.endswith(".dist-info") and top not in ("..", "")}
    assert tops == {"affectgpt", "affectgpt_kfp"}, sorted(tops)


def test_code_version_comes_from_the_build_metadata(installed):
    info = json.loads(installed.python("import json, affectgpt.paths as p; print(json.dumps(p.build_info()))"))
    assert info["commit_source"] == "git" and len(info["commit"]) == 40
    version = installed.python("from affectgpt.manifest import code_version; print(code_version())").strip()
    assert version == installed.expected_version
    manifest = installed.python("from affectgpt.manifest import StepManifest; print(StepManifest(step='x').code_version)")
    assert manifest.strip() == installed.expected_version


def test_the_wheel_names_the_image_tag_of_its_source(installed):
    """Code running from the image's wheel names the same content-tagged image that the
    pipelines compiled from this checkout name (affectgpt.image_tag)."""
    from affectgpt.image_tag import image_tag

    assert installed.python("from affectgpt_kfp.components import step_image; print(step_image('train'))").strip() == \
        f"ghcr.io/affectgpt/affectgpt-train:{image_tag()}"


def _write_predictions(work: Path) -> list[str]:
    """A local gold set (clip manifest) and a predictions folder for `bench run`."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    gold = {"c1": ["happy", "joyful"], "c2": ["angry"], "c3": ["sad", "worried"]}
    pq.write_table(pa.table({"clip_id": list(gold), "split": ["test"] * 3, "ov_labels": list(gold.values())}),
                   work / "gold.parquet")
    predictions = work / "predictions"
    predictions.mkdir(exist_ok=True)
    answers = {"c1": "She smiles, clearly happy and cheerful.", "c2": "He shouts; he is angry.", "c3": "Calm."}
    (predictions / "local.jsonl").write_text("".join(
        json.dumps({"clip_id": c, "dataset": "local", "output": text}) + "\n" for c, text in answers.items()))
    return ["affectgpt", "bench", "run", "--predictions", str(predictions), "--datasets",
            f"local={work / 'gold.parquet'}", "--out", str(work / "bench-report")]


def _check_bench_report(installed: Installed) -> None:
    report = json.loads((installed.work / "bench-report" / "report.json").read_text())
    assert report["code_version"] == installed.expected_version
    assert report["datasets"]["local"]["n_scored"] == 3 and report["datasets"]["local"]["value"] > 0
    assert (installed.work / "bench-report" / "report.html").is_file()


def _register_and_review(installed: Installed) -> subprocess.CompletedProcess:
    run_id = installed.python(
        "import mlflow, mlflow.pyfunc\n"
        "from affectgpt.registry.connection import artifact_root_for, resolve_tracking_uri\n"
        "class Echo(mlflow.pyfunc.PythonModel):\n"
        "    def predict(self, context, model_input, params=None): return ['happy'] * len(model_input)\n"
        "uri = resolve_tracking_uri(); mlflow.set_tracking_uri(uri)\n"
        "mlflow.set_experiment(experiment_id=mlflow.create_experiment('train', artifact_location=artifact_root_for(uri)))\n"
        "with mlflow.start_run(tags={'mlflow.user': 'trainer'}) as run:\n"
        "    mlflow.pyfunc.log_model(name='model', python_model=Echo(), pip_requirements=['mlflow'])\n"
        "print(run.info.run_id)\n").strip().splitlines()[-1]
    # No --promotion-config, no --tracking-uri: the packaged rules and the default store.
    registered = installed.run("affectgpt", "registry", "register", "--run-id", run_id, "--model", "affectgpt",
                               "--data-rev", "rev1", "--code-rev", installed.expected_version,
                               "--config-hash", "h1", "--score", "mer2023=0.6", "--scorer-mode", "official", "--json",
                               "--actor", "trainer")
    payload = json.loads(registered.stdout[registered.stdout.index("{"):])
    assert payload["version"] in ("1", 1)
    reviewed = installed.run("affectgpt", "registry", "review", "--model", "affectgpt", "--version", "1",
                             "--out", str(installed.work / "review"), "--actor", "reviewer")
    assert (installed.work / ".affectgpt" / "mlflow.db").is_file()  # the workspace default, under the cwd
    return reviewed


TINY_MODEL = """
import sys
from affectgpt.model.build import build_model, build_tokenizer
from affectgpt.model.config import load_config
from affectgpt.model.store import save_model_dir
config = load_config('tiny.yaml')
tokenizer = build_tokenizer(config, ['I feel happy, sad, angry, worried, surprised or calm today.'])
save_model_dir(build_model(config, tokenizer), tokenizer, sys.argv[1])
print('model ok')
"""


def _bench_eval_on_fixture(installed: Installed) -> subprocess.CompletedProcess:
    """The evaluate step's entry point: a fixture made from the reference data, a tiny model
    saved by the installed package, then `bench eval` over the nine sets."""
    installed.run("python", "-c", TINY_MODEL, str(installed.work / "model"))
    installed.run("affectgpt", "bench", "make-fixture", "--out", str(installed.work / "fixture"), "--per-dataset", "1",
                  timeout=300)
    result = installed.run("affectgpt", "bench", "eval", "--model", str(installed.work / "model"), "--unibench",
                           str(installed.work / "fixture"), "--out", str(installed.work / "eval"), "--mode", "corrected",
                           timeout=600)
    report = json.loads((installed.work / "eval" / "report" / "report.json").read_text())
    assert report["code_version"] == installed.expected_version
    assert set(report["datasets"]) >= {"mer2023", "mer2024", "meld", "iemocapfour", "cmumosi", "cmumosei", "sims",
                                       "simsv2", "ovmerdplus"}
    assert report["decoding"] and report["lineage"]["unibench_rev"]
    return result


CONFIG_CHECK = """
import yaml
from affectgpt.paths import packaged_config, resolve_config
from affectgpt.registry.gate import load_promotion_config
from affectgpt.data.config import load_build_config
from affectgpt.monitor.config import load_monitoring_config
tiny = yaml.safe_load(resolve_config('tiny.yaml').read_text())  # validated by `model summary` below
assert tiny['llm'] and resolve_config('tiny.yaml') == packaged_config('tiny.yaml')
rules = load_promotion_config(); demo = load_promotion_config('promotion-demo.yaml')
build = load_build_config(); monitoring, source = load_monitoring_config()
assert source == packaged_config('monitoring.yaml'), source
print('configs ok')
"""

# (name, argv or a callable taking Installed, what the output must contain). In argv, {work} is
# the temp working directory. A new step's entry point is one more row, e.g.
#   ("bench eval", ["affectgpt", "bench", "eval", "--unibench", "{work}/fixture", ...], "MER-UniBench"),
ENTRY_POINTS: list[tuple[str, object, str]] = [
    ("cli help", ["affectgpt", "--help"], "bench"),
    ("config resolution", ["python", "-c", CONFIG_CHECK], "configs ok"),
    ("model summary, packaged config by name", ["affectgpt", "model", "summary", "--config", "affectgpt-7b.yaml"],
     "LoRA trainable parameters"),
    ("registry defaults: register + review", _register_and_review, "mer2023"),
    ("bench run", "bench-run", "local"),
    ("compiled pipelines ship and are current", ["affectgpt", "pipeline", "compile", "--check"], "up to date"),
    ("bench eval on the fixture", _bench_eval_on_fixture, "MER-UniBench"),
]


@pytest.mark.parametrize("name,command,expected", ENTRY_POINTS, ids=[row[0] for row in ENTRY_POINTS])
def test_entry_point_runs_from_a_temp_dir(installed, reference_data, name, command, expected):
    # An installed package never looks beside a clone: the research material is named explicitly.
    installed.env["AFFECTGPT_REFERENCE_DATA"] = str(reference_data)
    if command == "bench-run":
        result = installed.run(*_write_predictions(installed.work))
        _check_bench_report(installed)
    elif callable(command):
        result = command(installed)
    else:
        result = installed.run(*(arg.format(work=installed.work) for arg in command))
    assert expected in result.stdout + result.stderr
    assert not (installed.work / "configs").exists()  # nothing was read from or copied to a checkout layout
