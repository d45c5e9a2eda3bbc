"""What a compiled pipeline accepts, checked before anything is sent to a Kubeflow server.

A typo'd or missing `--param` used to travel to the server and fail there minutes later (or,
for an optional input, be silently ignored). The compiled IR YAML declares every input of the
pipeline with its type and default (`root.inputDefinitions.parameters`), so `pipeline submit`
and `pipeline schedule` convert and check the arguments against it here, offline (`decoding`
and `scorer_mode` also against the library's enums of their values), and so does `pipeline run
--local`, with the same words, before it makes a corpus or starts a step; a local run also checks
that every input naming a file or folder exists on this machine (`check_local_paths`). With
`dvc_repo`, `raw_dir` names the tracked folder inside that repository (the pull step brings it),
so it is checked, and its revision read, there. For a pipeline that trains with a PyTorchJob,
`submit` and `schedule` also check the job's shape its arguments give, by the rule `cluster
train-job` uses (`check_job_shape`). Cron expressions are checked with croniter and written in
the 6-field form (seconds first) that the KFP scheduler expects.
"""

from __future__ import annotations

import difflib
import json
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from affectgpt.bench.mode import ScorerModeName
from affectgpt.errors import BadInput, ExitCode, NotFound
from affectgpt.model.decoding import Decoding

# IR parameter types -> what a person writes after NAME=.
TYPE_WORDS = {"STRING": "text", "NUMBER_INTEGER": "an integer", "NUMBER_DOUBLE": "a number",
              "BOOLEAN": "true or false", "LIST": "a JSON list", "STRUCT": "a JSON object"}
TRUE_WORDS, FALSE_WORDS = {"true", "1", "yes"}, {"false", "0", "no"}
# Text inputs whose values are one of a library enum: a bad one is refused here, offline, not
# in a step pod after the model and the test sets are loaded.
CHOICES: dict[str, type[StrEnum]] = {"decoding": Decoding, "scorer_mode": ScorerModeName}


class BadPipelineInput(BadInput):
    """An argument the compiled pipeline does not declare, lacks, or cannot take as given."""


class PipelineInputMissing(BadPipelineInput, NotFound):
    """A file or folder a local run's input names does not exist on this machine."""

    exit_code = ExitCode.NOT_FOUND


# Inputs that name a config: a packaged name (`tiny.yaml`) or a file, resolved as the steps do.
CONFIG_INPUTS = ("model_config", "build_config", "promotion_config", "drift_config")
# Inputs that name a folder, and those that name a folder or a clip-manifest .parquet.
FOLDER_INPUTS = ("unibench_dir",)
CORPUS_INPUTS = ("raw_dir",)
# Inputs that name drift batches (files, or `feast:` views, several joined with '+').
BATCH_INPUTS = ("reference", "current")
# A DVC repository the pull step brings the corpus from: a folder, or a git URL.
DVC_REPO_INPUT = "dvc_repo"


@dataclass(frozen=True)
class PipelineInput:
    name: str
    type: str  # IR parameterType: STRING, NUMBER_INTEGER, NUMBER_DOUBLE, BOOLEAN, LIST, STRUCT
    required: bool
    default: Any = None

    def describe(self) -> str:
        default = "" if self.required else f" = {self.default!r}"
        return f"{self.name} ({TYPE_WORDS.get(self.type, self.type)}{', required' if self.required else default})"


def declared_inputs(package: Path) -> dict[str, PipelineInput]:
    """The inputs a compiled pipeline declares, by name."""
    import yaml

    spec = next(iter(yaml.safe_load_all(package.read_text())), None) or {}
    parameters = spec.get("root", {}).get("inputDefinitions", {}).get("parameters", {}) or {}
    inputs = {}
    for name, decl in parameters.items():
        kind, default = str(decl.get("parameterType", "STRING")), decl.get("defaultValue")
        if kind == "NUMBER_INTEGER" and isinstance(default, float) and default.is_integer():
            default = int(default)  # the IR writes integer defaults as JSON numbers (4.0)
        inputs[name] = PipelineInput(name, kind, not decl.get("isOptional", False) and "defaultValue" not in decl,
                                     default)
    return inputs


def split_params(params: list[str] | None) -> dict[str, str]:
    """`NAME=VALUE` strings as a dict of raw text values (converted later, by declared type)."""
    raw: dict[str, str] = {}
    for item in params or []:
        if "=" not in item:
            raise BadPipelineInput(f"--param {item!r}: write it as NAME=VALUE")
        name, value = item.split("=", 1)
        raw[name.strip()] = value
    return raw


def convert(declared: PipelineInput, value: Any) -> Any:
    """`value` (text from the command line, or an already typed value) as the declared type."""
    if not isinstance(value, str):
        return value
    kind = declared.type
    try:
        if kind == "NUMBER_INTEGER":
            return int(value)
        if kind == "NUMBER_DOUBLE":
            return float(value)
        if kind == "BOOLEAN":
            if value.lower() in TRUE_WORDS | FALSE_WORDS:
                return value.lower() in TRUE_WORDS
            raise ValueError(value)
        if kind in ("LIST", "STRUCT"):
            decoded = json.loads(value)
            if not isinstance(decoded, list if kind == "LIST" else dict):
                raise ValueError(value)
            return decoded
    except (ValueError, json.JSONDecodeError):
        raise BadPipelineInput(f"--param {declared.name}={value}: expected {TYPE_WORDS[kind]}") from None
    return value


def check_arguments(pipeline: str, declared: dict[str, PipelineInput], arguments: dict[str, Any],
                    filled_later: set[str] = frozenset()) -> dict[str, Any]:
    """`arguments` converted to the declared types; raises BadPipelineInput naming every unknown
    (with the closest declared name), missing or mistyped input, and listing the valid ones.
    `filled_later` are inputs the command supplies itself (e.g. `submitted_by`)."""
    problems: list[str] = []
    for name in arguments:
        if name not in declared:
            close = difflib.get_close_matches(name, list(declared), n=1)
            problems.append(f"unknown input {name!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
    missing = [name for name, decl in declared.items()
               if decl.required and name not in arguments and name not in filled_later]
    problems += [f"missing required input {name!r}" for name in missing]
    converted: dict[str, Any] = {}
    for name, value in arguments.items():
        if name in declared:
            try:
                converted[name] = convert(declared[name], value)
            except BadPipelineInput as exc:
                problems.append(str(exc))
            else:
                choices = CHOICES.get(name)
                if choices is not None and converted[name] not in set(choices):
                    problems.append(f"--param {name}={value}: use one of {', '.join(choices)}")
    if problems:
        valid = "\n  ".join(decl.describe() for decl in declared.values())
        raise BadPipelineInput(f"{pipeline}: " + "; ".join(problems) + f"\nits inputs (--param NAME=VALUE):\n  {valid}")
    return converted


def checked_arguments(pipeline: str, package: Path, raw: dict[str, Any],
                      filled_later: set[str] = frozenset()) -> dict[str, Any]:
    """The one check of a pipeline's arguments, for `pipeline submit`, `schedule` and `run
    --local` alike: `raw` (text from `--param`, or typed values) converted to the compiled
    pipeline's declared types, with the revision of a corpus or test-set folder that is mounted
    here filled in; BadPipelineInput before any network call or local work when an input is
    unknown, missing or of the wrong type. `filled_later` inputs the command supplies itself."""
    from affectgpt.data.revision import content_revision

    arguments = dict(raw)
    raw_dir, unibench_dir = arguments.get("raw_dir"), arguments.get("unibench_dir")
    dvc_repo = str(arguments.get(DVC_REPO_INPUT) or "")
    if dvc_repo:
        if raw_dir and "data_rev" not in arguments and (revision := tracked_revision(dvc_repo, str(raw_dir))):
            arguments["data_rev"] = revision  # what the repository's pointer records today
    elif raw_dir and "data_rev" not in arguments and (Path(raw_dir).is_dir() or Path(raw_dir).suffix == ".parquet"
                                                       and Path(raw_dir).is_file()):
        arguments["data_rev"] = content_revision(Path(raw_dir))  # the data volume is mounted here
    if unibench_dir and "unibench_rev" not in arguments and Path(unibench_dir).is_dir():
        arguments["unibench_rev"] = content_revision(Path(unibench_dir))
    declared = declared_inputs(package)
    return check_arguments(pipeline, declared, arguments, filled_later=set(filled_later) & set(declared))


def check_job_shape(pipeline: str, package: Path, arguments: dict[str, Any], node_gpus: int) -> None:
    """For a pipeline whose train step launches a PyTorchJob: the job its arguments (or the
    defaults) size, by the rule of `affectgpt.cluster.job_shape`, before anything is sent. GPUs
    per node at most `node_gpus`, and the model config's batch at the world size when the config
    is at hand here (a packaged name or a file; a path inside the pod is the step's to check).
    BadPipelineInput names every problem."""
    from affectgpt.cluster.job_shape import NODE_GPUS_SOURCES, gpus_per_node_problem, world_size_problem
    from affectgpt.cluster.preflight import launches_training_job, load_pipeline
    from affectgpt.model.config import load_config
    from affectgpt.paths import resolve_config

    compiled = load_pipeline(package)
    declared = declared_inputs(package)
    if compiled is None or not launches_training_job(compiled) or not {"nodes", "gpus_per_node"} <= set(declared):
        return
    shape = {name: arguments.get(name, declared[name].default) for name in ("nodes", "gpus_per_node")}
    nodes, gpus_per_node = int(shape["nodes"]), int(shape["gpus_per_node"])
    problems = []
    too_many = gpus_per_node_problem(gpus_per_node, node_gpus)
    if too_many:
        problems.append(f"--param gpus_per_node={gpus_per_node}: {too_many} ({NODE_GPUS_SOURCES})")
    config = arguments.get("model_config", declared["model_config"].default if "model_config" in declared else None)
    if config and resolve_config(str(config)).is_file():
        batch = world_size_problem(load_config(str(config)).train, nodes, gpus_per_node)
        if batch:
            problems.append(f"--param model_config={config} on {batch}")
    if problems:
        raise BadPipelineInput(f"{pipeline}: " + "; ".join(problems))


def is_url(value: str) -> bool:
    """A git URL (`https://...`, `ssh://...`, `git@host:path`), not a path on this machine."""
    return "://" in value or (value.count(":") == 1 and "@" in value.split(":", 1)[0])


def tracked_revision(dvc_repo: str, tracked: str) -> str | None:
    """`dvc:<md5>` that `<dvc_repo>/<tracked>.dvc` records, when the repository is a folder here
    and tracks that folder; None otherwise (a git URL, or nothing tracked there)."""
    from affectgpt.data.dvc import data_revision

    if is_url(dvc_repo) or not Path(dvc_repo).expanduser().is_dir():
        return None
    revision = data_revision(Path(dvc_repo).expanduser(), tracked.strip().rstrip("/"))
    return f"dvc:{revision}" if revision else None


def check_local_paths(pipeline: str, arguments: dict[str, Any]) -> None:
    """For a run on this machine: every input that names a file or folder must exist here, so a
    typo is refused at once, not by a step after the corpus was made. PipelineInputMissing
    (not found) names every missing one; BadPipelineInput one that exists but is of the wrong
    kind."""
    from affectgpt.paths import find_config

    missing: list[str] = []
    wrong: list[str] = []
    for name in CONFIG_INPUTS:
        value = str(arguments.get(name) or "")
        if value:
            try:
                find_config(value, Path(value).name)
            except NotFound:
                missing.append(f"--param {name}={value}: no such file and no packaged config of that name")
    dvc_repo = str(arguments.get(DVC_REPO_INPUT) or "")
    if dvc_repo and not is_url(dvc_repo):
        raw_dir = str(arguments.get("raw_dir") or "").strip().rstrip("/")
        if not Path(dvc_repo).expanduser().is_dir():
            missing.append(f"--param {DVC_REPO_INPUT}={dvc_repo}: no such folder")
        elif raw_dir and not (Path(dvc_repo).expanduser() / f"{raw_dir}.dvc").is_file():
            missing.append(f"--param raw_dir={raw_dir}: {dvc_repo} tracks no such folder (no {raw_dir}.dvc); "
                           "with dvc_repo, raw_dir is the tracked folder's path inside it")
    for name in FOLDER_INPUTS + CORPUS_INPUTS:
        value = str(arguments.get(name) or "")
        if not value or (dvc_repo and name in CORPUS_INPUTS):
            continue
        path = Path(value).expanduser()
        if not path.exists():
            missing.append(f"--param {name}={value}: no such folder")
        elif name in FOLDER_INPUTS and not path.is_dir():
            wrong.append(f"--param {name}={value}: not a folder; see `affectgpt bench check-sets --help` "
                         "for the layout")
        elif name in CORPUS_INPUTS and not (path.is_dir() or path.suffix == ".parquet"):
            wrong.append(f"--param {name}={value}: expected a clip folder (media + subtitles.csv) or a "
                         "clip-manifest .parquet")
    for name in BATCH_INPUTS:
        value = str(arguments.get(name) or "")
        if value and not value.startswith("feast:") and not Path(value).expanduser().exists() \
                and not any(part.startswith("feast:") for part in value.split("+")):
            absent = [part for part in value.split("+") if not Path(part).expanduser().exists()]
            if absent:
                missing.append(f"--param {name}={value}: no such file ({', '.join(absent)})")
    if missing:
        raise PipelineInputMissing(f"{pipeline}: " + "; ".join(missing))
    if wrong:
        raise BadPipelineInput(f"{pipeline}: " + "; ".join(wrong))


def kfp_cron(expression: str) -> str:
    """A cron expression as the KFP scheduler takes it: 6 fields, seconds first. A classic
    5-field expression gets `0 ` prepended; anything croniter cannot parse is refused."""
    from croniter import croniter

    fields = expression.split()
    six = ("0 " + expression.strip()) if len(fields) == 5 else expression.strip()
    if len(six.split()) != 6 or not croniter.is_valid(six, second_at_beginning=True):
        raise BadPipelineInput(f"--cron {expression!r}: not a valid cron expression; write 5 fields "
                               "(minute hour day month weekday, e.g. '0 3 * * *') or 6 with seconds first")
    return six
