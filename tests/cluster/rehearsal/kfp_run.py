"""A compiled KFP v2 pipeline (the IR YAML), run task by task as the KFP backend would: the DAG
in dependency order (sub-DAGs, `dsl.ParallelFor` items side by side, `dsl.Collected` lists, `dsl.If`
conditions, exit handlers), each container task given the executor input the driver builds and
run through its own command (kfp's executor entry point) in a pod-shaped sandbox (`pod.py`)
with the volumes, env and security context of its platform spec. Artifacts travel through an
object-store folder as the KFP launcher moves them: downloaded into the task's `/minio/...`
paths before it runs, uploaded after. Pods share nothing else but the PVC folders.

What it does not do (the real Argo workflow, KFP driver and launcher, MLMD, caching, retries,
scheduling, networking) is written in docs/platform.md ("Rehearsal without a cluster").
"""

from __future__ import annotations

import copy
import json
import os
import re
import shutil
import subprocess
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import yaml
from testkit.processes import free_port

from . import pod as sandbox
from .kube import Cluster, StandInApiServer, forbidden_message

LOCAL_PREFIX = {"minio://": "/minio/", "s3://": "/s3/", "gs://": "/gcs/"}  # kfp.dsl.types.artifact_types
OUTPUT_METADATA = "/tmp/kfp_outputs/output_metadata.json"  # the launcher's component.OutputMetadataFilepath
# What the KFP launcher and Argo's executor do with the step pod's ServiceAccount in its namespace
# (read the artifact-store Secret and the launcher ConfigMap, report the task result).
LAUNCHER_VERBS = [("get", "", "secrets"), ("get", "", "configmaps"),
                  ("create", "argoproj.io", "workflowtaskresults"), ("patch", "argoproj.io", "workflowtaskresults")]


class TaskFailed(RuntimeError):
    """A task of the run failed; `task` is its path in the DAG (e.g. `for-loop-2[3]/predict`)."""

    def __init__(self, task: str, message: str):
        super().__init__(f"task {task} failed: {message}")
        self.task = task


def load_ir(path: Path) -> tuple[dict, dict]:
    """(pipeline spec, kubernetes platform spec) of a compiled pipeline YAML."""
    docs = [doc for doc in yaml.safe_load_all(Path(path).read_text()) if doc]
    spec = docs[0]
    platform = next((d["platforms"]["kubernetes"] for d in docs[1:] if "platforms" in d), {})
    return spec, platform


@dataclass
class World:
    """Everything around the pipeline: the image, the cluster's objects and API server, the
    folders standing for the PVCs and the object store, and the cluster services that run here
    (a ConfigMap URL whose host is `mlflow[.ns.svc.cluster.local]` is pointed at 127.0.0.1:port)."""

    runtime: sandbox.ImageRuntime
    cluster: Cluster
    api: StandInApiServer
    root: Path
    pvcs: dict[str, Path]
    services: dict[str, str] = field(default_factory=dict)
    namespace: str = "kubeflow"  # KFP standalone: step pods run in `kubeflow`...
    service_account: str = "pipeline-runner"  # ...as KFP's runner ServiceAccount
    pipeline_root: str = "minio://mlpipeline/v2/artifacts"
    cpu_ranks_per_pod: int = 2  # torchrun processes per training pod (stand-in for its GPUs)
    master_ports: dict[str, str] = field(default_factory=dict)  # job uid -> its rendezvous port

    @property
    def store(self) -> Path:
        return self.root / "store"

    def store_path(self, uri: str) -> Path:
        scheme, rest = uri.split("://", 1)
        return self.store / scheme / rest

    # ------------------------------------------------------------------------ what pods see

    def service_value(self, value: str) -> str:
        """A ConfigMap value naming a cluster service that runs here, pointed at it."""
        try:
            parts = urlsplit(value)
        except ValueError:
            return value
        if parts.scheme in ("http", "https") and parts.hostname and parts.hostname.split(".")[0] in self.services:
            return urlunsplit(parts._replace(netloc=self.services[parts.hostname.split(".")[0]]))
        return value

    def values(self, kind: str, name: str, keys: list[tuple[str, str]] | None, optional: bool, pod: str,
               namespace: str | None = None) -> dict:
        """Env values from a ConfigMap or Secret in the pod's namespace (all keys when `keys` is None)."""
        namespace = namespace or self.namespace
        data = self.cluster.data(kind, namespace, name)
        if data is None:
            if optional:
                return {}
            where = self.cluster.where(kind, name)
            raise sandbox.PodFailed(f"pod {pod}: CreateContainerConfigError: {kind.lower()} \"{name}\" not found in "
                                    f"namespace {namespace!r}" + (f" (it exists in {', '.join(where)})" if where else ""))
        pairs = keys if keys else [(key, key) for key in data]
        missing = [key for key, _ in pairs if key not in data]
        if missing and not optional:
            raise sandbox.PodFailed(f"pod {pod}: CreateContainerConfigError: couldn't find key {missing[0]} in "
                                    f"{kind} {namespace}/{name}")
        return {env: self.service_value(data[key]) if kind == "ConfigMap" else data[key]
                for key, env in pairs if key in data}

    def pvc_folder(self, claim: str, pod: str, namespace: str) -> Path:
        if self.cluster.get("PersistentVolumeClaim", namespace, claim) is None:
            where = self.cluster.where("PersistentVolumeClaim", claim)
            raise sandbox.PodFailed(f"pod {pod}: persistentvolumeclaim \"{claim}\" not found in namespace "
                                    f"{namespace!r}" + (f" (it exists in {', '.join(where)})" if where else ""))
        return self.pvcs[claim]

    def kubelet_env(self, pod_name: str) -> dict[str, str]:
        """What the kubelet puts in every container: the API server's service and the hostname."""
        port = str(self.api.port)
        return {"KUBERNETES_SERVICE_HOST": "127.0.0.1", "KUBERNETES_SERVICE_PORT": port,
                "KUBERNETES_SERVICE_PORT_HTTPS": port, "KUBERNETES_PORT": f"tcp://127.0.0.1:{port}",
                "HOSTNAME": pod_name}

    def hosts_mount(self, pod_dir: Path, pod_name: str) -> sandbox.Mount:
        """The /etc/hosts the kubelet writes: the pod's hostname resolves to its own address."""
        pod_dir.mkdir(parents=True, exist_ok=True)
        (pod_dir / "hosts").write_text(f"127.0.0.1\tlocalhost\n127.0.0.1\t{pod_name[:63]}\n")
        return sandbox.Mount(pod_dir / "hosts", "/etc/hosts", read_only=True)

    def service_account_mount(self, pod_dir: Path, namespace: str, service_account: str) -> sandbox.Mount:
        folder = pod_dir / "serviceaccount"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "token").write_text(self.api.token_for(namespace, service_account))
        (folder / "namespace").write_text(namespace)
        shutil.copy2(self.api.ca_cert, folder / "ca.crt")
        return sandbox.Mount(folder, sandbox.SA_TOKEN_DIR, read_only=True)

    # ------------------------------------------------------------------------ the operator's pods

    def start_job_pod(self, job: dict, replica_type: str, index: int, pod_name: str) -> subprocess.Popen:
        """A PyTorchJob pod as the Training Operator creates it: the `pytorch` container of the
        replica's template plus the rendezvous env (PET_*), run in a sandbox."""
        namespace = job["metadata"]["namespace"]
        replicas = job["spec"]["pytorchReplicaSpecs"]
        template = replicas[replica_type]["template"]["spec"]
        account = template.get("serviceAccountName", "default")
        if account != "default" and self.cluster.get("ServiceAccount", namespace, account) is None:
            raise RuntimeError(f"serviceaccount \"{account}\" not found in namespace {namespace!r}")
        container = next(c for c in template["containers"] if c["name"] == "pytorch")
        pod_dir = self.root / "pods" / pod_name
        env = self.kubelet_env(pod_name)
        for source in container.get("envFrom") or []:
            if "configMapRef" in source:
                ref = source["configMapRef"]
                env.update(self.values("ConfigMap", ref["name"], None, ref.get("optional", False), pod_name,
                                       namespace))
            if "secretRef" in source:
                ref = source["secretRef"]
                env.update(self.values("Secret", ref["name"], None, ref.get("optional", False), pod_name,
                                       namespace))
        for item in container.get("env") or []:
            env.update(self._env_item(item, pod_name, namespace))
        nodes = sum(int(r.get("replicas", 1)) for r in replicas.values())
        rank = index + (1 if replica_type != "Master" and "Master" in replicas else 0)
        master_port = self.master_ports.setdefault(job["metadata"]["uid"], str(free_port()))
        env.update({"PET_NNODES": str(nodes), "PET_NODE_RANK": str(rank), "PET_MASTER_ADDR": "127.0.0.1",
                    "PET_MASTER_PORT": master_port, "PET_NPROC_PER_NODE": str(self.cpu_ranks_per_pod),
                    "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": master_port, "WORLD_SIZE": str(nodes),
                    "RANK": str(rank), "PYTHONUNBUFFERED": "1"})
        mounts, tmpfs = self._volume_mounts(template, container, pod_name, namespace, pod_dir)
        mounts.append(self.hosts_mount(pod_dir, pod_name))
        if template.get("automountServiceAccountToken", True):
            mounts.append(self.service_account_mount(pod_dir, namespace, account))
        uid, gid = _identity(template, container)
        spec = sandbox.Container(pod_name, [*container.get("command", []), *container.get("args", [])], env,
                                 sandbox.image_config(container["image"]), uid=uid, gid=gid,
                                 workdir=container.get("workingDir"), mounts=mounts, tmpfs=tmpfs)
        return sandbox.start(spec, self.runtime)

    def _env_item(self, item: dict, pod_name: str, namespace: str) -> dict[str, str]:
        if "value" in item:
            return {item["name"]: item["value"]}
        source = item.get("valueFrom", {})
        if "fieldRef" in source:
            return {item["name"]: _field(source["fieldRef"]["fieldPath"], pod_name, namespace, "")}
        for kind, key in (("ConfigMap", "configMapKeyRef"), ("Secret", "secretKeyRef")):
            if key in source:
                ref = source[key]
                return self.values(kind, ref["name"], [(ref["key"], item["name"])], ref.get("optional", False),
                                   pod_name, namespace)
        return {}

    def _volume_mounts(self, template: dict, container: dict, pod_name: str, namespace: str,
                       pod_dir: Path) -> tuple[list[sandbox.Mount], list[str]]:
        volumes = {v["name"]: v for v in template.get("volumes") or []}
        mounts, tmpfs = [], []
        for mount in container.get("volumeMounts") or []:
            volume = volumes[mount["name"]]
            target = mount["mountPath"]
            if "persistentVolumeClaim" in volume:
                claim = volume["persistentVolumeClaim"]
                source = self.pvc_folder(claim["claimName"], pod_name, namespace) / mount.get("subPath", "")
                mounts.append(sandbox.Mount(source, target, mount.get("readOnly", False) or claim.get("readOnly", False)))
            elif "emptyDir" in volume:
                tmpfs.append(target)
            elif "configMap" in volume or "secret" in volume:
                kind = "ConfigMap" if "configMap" in volume else "Secret"
                ref = volume.get("configMap") or volume.get("secret")
                name = ref.get("name") or ref.get("secretName")
                folder = pod_dir / "volumes" / mount["name"]
                folder.mkdir(parents=True, exist_ok=True)
                for key, value in self.values(kind, name, None, ref.get("optional", False), pod_name,
                                              namespace).items():
                    (folder / key).write_text(value)
                mounts.append(sandbox.Mount(folder, target, read_only=True))
            else:
                raise RuntimeError(f"volume {mount['name']!r} of pod {pod_name}: kind not modelled by the rehearsal")
        return mounts, tmpfs


def _identity(pod_spec: dict, container: dict) -> tuple[int, int]:
    pod_ctx, ctx = pod_spec.get("securityContext") or {}, container.get("securityContext") or {}
    uid = ctx.get("runAsUser", pod_ctx.get("runAsUser", 10001))
    gid = ctx.get("runAsGroup", pod_ctx.get("runAsGroup", uid))
    return int(uid), int(gid)


def _field(path: str, pod_name: str, namespace: str, pod_uid: str, labels: dict | None = None) -> str:
    values = {"metadata.name": pod_name, "metadata.namespace": namespace, "metadata.uid": pod_uid,
              "spec.nodeName": "rehearsal-node", "status.podIP": "127.0.0.1", "status.hostIP": "127.0.0.1"}
    if path.startswith("metadata.labels['"):
        return (labels or {}).get(path.split("'")[1], "")
    if path not in values:
        raise RuntimeError(f"fieldPath {path!r}: not modelled by the rehearsal")
    return values[path]


# ---------------------------------------------------------------------------------------- the run


@dataclass
class RunResult:
    run_id: str
    outputs: dict[str, Any]
    tasks: list[dict] = field(default_factory=list)  # {"task", "seconds"} in run order
    artifacts: dict[str, dict[str, list[dict]]] = field(default_factory=dict)  # task -> output -> artifacts
    parameters: dict[str, dict[str, Any]] = field(default_factory=dict)  # task -> output parameter -> value
    notes: list[str] = field(default_factory=list)


class Rehearsal:
    """`Rehearsal(spec, platform, world).run(arguments)`: the pipeline run, or TaskFailed naming the
    first failing task with the pod's log tail."""

    def __init__(self, spec: dict, platform: dict, world: World):
        self.spec, self.world = spec, world
        self.executors_k8s = platform.get("deploymentSpec", {}).get("executors", {})
        self.run_id = str(uuid.uuid4())
        self.run_name = f"{spec['pipelineInfo']['name']}-{self.run_id[:5]}"
        self.result = RunResult(self.run_id, {})
        self._pods = 0
        self._lock = threading.Lock()  # ParallelFor iterations run in threads

    def run(self, arguments: dict[str, Any]) -> RunResult:
        root = self.spec["root"]
        params = {}
        for name, definition in root.get("inputDefinitions", {}).get("parameters", {}).items():
            if name in arguments:
                params[name] = arguments[name]
            elif "defaultValue" in definition:
                params[name] = definition["defaultValue"]
            elif not definition.get("isOptional"):
                raise ValueError(f"pipeline parameter {name!r} has no value and no default")
        unknown = set(arguments) - set(root.get("inputDefinitions", {}).get("parameters", {}))
        if unknown:
            raise ValueError(f"the compiled pipeline has no parameter(s) {sorted(unknown)}")
        params = {k: _typed(v, root["inputDefinitions"]["parameters"][k]["parameterType"]) for k, v in params.items()}
        outputs = self._run_dag(root, params, {}, "")
        self.result.outputs = outputs["parameters"]
        return self.result

    # ------------------------------------------------------------------------ DAG

    def _run_dag(self, component: dict, params: dict, artifacts: dict, path: str) -> dict:
        dag = component["dag"]
        tasks = dag.get("tasks", {})
        done: dict[str, dict] = {}  # task -> {"state", "parameters", "artifacts", "error"}
        first_failure: TaskFailed | None = None
        pending = dict(sorted(tasks.items()))
        while pending:
            ready = [name for name, task in pending.items() if all(d in done for d in _upstream(task))]
            if not ready:
                raise RuntimeError(f"{path or 'root'}: a dependency cycle among {sorted(pending)}")
            name = ready[0]
            task = pending.pop(name)
            upstream = _upstream(task)
            all_done = task.get("triggerPolicy", {}).get("strategy") == "ALL_UPSTREAM_TASKS_COMPLETED"
            if not all_done and any(done[d]["state"] != "SUCCEEDED" for d in upstream):
                done[name] = {"state": "SKIPPED"}
                continue
            where = f"{path}{name}"
            try:
                task_params = self._task_parameters(task, params, done, where)
                task_artifacts = self._task_artifacts(task, artifacts, done)
                condition = task.get("triggerPolicy", {}).get("condition")
                if condition and not _condition_holds(condition, task_params):
                    done[name] = {"state": "SKIPPED"}
                    self.result.tasks.append({"task": where, "state": "SKIPPED (condition false)", "seconds": 0.0})
                    continue
                done[name] = {"state": "SUCCEEDED", **self._run_task(task, task_params, task_artifacts, where)}
            except TaskFailed as failure:
                done[name] = {"state": "FAILED", "error": str(failure)}
                first_failure = first_failure or failure
            except sandbox.PodFailed as failure:
                done[name] = {"state": "FAILED", "error": str(failure)}
                first_failure = first_failure or TaskFailed(where, str(failure))
        if first_failure is not None:
            raise first_failure
        return self._dag_outputs(dag, done)

    def _dag_outputs(self, dag: dict, done: dict) -> dict:
        outputs = {"parameters": {}, "artifacts": {}}
        for name, spec in dag.get("outputs", {}).get("parameters", {}).items():
            source = spec.get("valueFromParameter") or (spec.get("valueFromOneof", {}).get("parameterSelectors") or [{}])[0]
            producer = done.get(source.get("producerSubtask"), {})
            outputs["parameters"][name] = producer.get("parameters", {}).get(source.get("outputParameterKey"))
        for name, spec in dag.get("outputs", {}).get("artifacts", {}).items():
            collected = []
            for selector in spec.get("artifactSelectors", []):
                producer = done.get(selector["producerSubtask"], {})
                collected += producer.get("artifacts", {}).get(selector["outputArtifactKey"], [])
            outputs["artifacts"][name] = collected
        return outputs

    def _task_parameters(self, task: dict, params: dict, done: dict, where: str) -> dict:
        values = {}
        for name, spec in task.get("inputs", {}).get("parameters", {}).items():
            if "componentInputParameter" in spec:
                value = params.get(spec["componentInputParameter"])
            elif "taskOutputParameter" in spec:
                ref = spec["taskOutputParameter"]
                value = done[ref["producerTask"]].get("parameters", {}).get(ref["outputParameterKey"])
            elif "runtimeValue" in spec:
                value = spec["runtimeValue"].get("constant")
            elif "taskFinalStatus" in spec:
                producer = spec["taskFinalStatus"]["producerTask"]
                state = done[producer]
                value = {"state": state["state"], "pipelineJobResourceName": self.run_name,
                         "pipelineTaskName": producer,
                         "error": {"code": 0 if state["state"] == "SUCCEEDED" else 1, "message": state.get("error", "")}}
            else:
                raise RuntimeError(f"{where}: parameter {name!r}: input kind {sorted(spec)} not modelled")
            if "parameterExpressionSelector" in spec:
                raise RuntimeError(f"{where}: parameter {name!r}: parameterExpressionSelector not modelled")
            values[name] = self._placeholders(value, where)
        return values

    def _task_artifacts(self, task: dict, artifacts: dict, done: dict) -> dict:
        values = {}
        for name, spec in task.get("inputs", {}).get("artifacts", {}).items():
            if "componentInputArtifact" in spec:
                values[name] = artifacts[spec["componentInputArtifact"]]
            elif "taskOutputArtifact" in spec:
                ref = spec["taskOutputArtifact"]
                values[name] = done[ref["producerTask"]]["artifacts"][ref["outputArtifactKey"]]
            else:
                raise RuntimeError(f"artifact input {name!r}: kind {sorted(spec)} not modelled")
        return values

    def _placeholders(self, value: Any, where: str) -> Any:
        if not isinstance(value, str):
            return value
        task = where.rsplit("/", 1)[-1].split("[")[0]
        for key, sub in (("{{$.pipeline_job_name}}", self.run_name), ("{{$.pipeline_job_resource_name}}", self.run_name),
                         ("{{$.pipeline_job_uuid}}", self.run_id), ("{{$.pipeline_task_name}}", task),
                         ("{{$.pipeline_task_uuid}}", str(uuid.uuid5(uuid.NAMESPACE_URL, self.run_id + where))),
                         ("{{$.pipeline_root}}", self.world.pipeline_root)):
            value = value.replace(key, sub)
        return value

    # ------------------------------------------------------------------------ tasks

    def _run_task(self, task: dict, params: dict, artifacts: dict, where: str) -> dict:
        component = self.spec["components"][task["componentRef"]["name"]]
        if "dag" in component:
            iterator = task.get("parameterIterator")
            if iterator is None:
                return self._run_dag(component, params, artifacts, f"{where}/")
            items = iterator["items"]
            values = json.loads(items["raw"]) if "raw" in items else params[items["inputParameter"]]
            if isinstance(values, str):
                values = json.loads(values)
            iterations = self._run_iterations(component, iterator["itemInput"], values, params, artifacts, where,
                                              task.get("iteratorPolicy", {}).get("parallelismLimit", 0))
            collected = {"parameters": {}, "artifacts": {}}
            for name in component.get("dag", {}).get("outputs", {}).get("parameters", {}):
                collected["parameters"][name] = [it["parameters"][name] for it in iterations]
            for name in component.get("dag", {}).get("outputs", {}).get("artifacts", {}):
                collected["artifacts"][name] = [a for it in iterations for a in it["artifacts"][name]]
            return collected
        started = time.monotonic()
        try:
            outputs = self._run_container(component, task, params, artifacts, where)
        finally:
            self.result.tasks.append({"task": where, "seconds": round(time.monotonic() - started, 1)})
        return outputs

    def _run_iterations(self, component: dict, item_input: str, values: list, params: dict, artifacts: dict,
                        where: str, limit: int) -> list[dict]:
        """A ParallelFor's iterations at once, as Argo starts them (up to the loop's parallelism
        limit, and here up to this machine's cores); each finishes even when another fails, and
        the first failure in item order is raised after all have ended."""
        workers = max(1, min(len(values), limit or len(values), os.cpu_count() or 1))
        with ThreadPoolExecutor(max_workers=workers) as pool:
            futures = [pool.submit(self._run_dag, component, {**params, item_input: item}, artifacts,
                                   f"{where}[{index}]/") for index, item in enumerate(values)]
            wait(futures)
        return [future.result() for future in futures]

    def _run_container(self, component: dict, task: dict, params: dict, artifacts: dict, where: str) -> dict:
        executor_label = component["executorLabel"]
        container = self.spec["deploymentSpec"]["executors"][executor_label]["container"]
        k8s = self.executors_k8s.get(executor_label, {})
        with self._lock:
            self._pods += 1
            pod_number = self._pods
        task_name = where.rsplit("/", 1)[-1].split("[")[0]
        pod_name = f"{self.run_name}-{task_name}-{pod_number}"[:63].rstrip("-")
        pod_dir = self.world.root / "pods" / pod_name
        pod_uid = str(uuid.uuid4())
        world = self.world

        for verb, group, resource in LAUNCHER_VERBS:
            if not world.cluster.allows((world.namespace, world.service_account), verb, group, resource, world.namespace):
                raise sandbox.PodFailed(f"pod {pod_name}: the KFP launcher/Argo executor is refused: "
                                        + forbidden_message((world.namespace, world.service_account), verb, group,
                                                            resource, world.namespace))

        # The executor input, as the driver builds it.
        definitions = component.get("inputDefinitions", {})
        parameter_values = {}
        for name, definition in definitions.get("parameters", {}).items():
            if name in params and params[name] is not None:
                parameter_values[name] = _typed(params[name], definition["parameterType"])
            elif "defaultValue" in definition:  # protojson writes a whole double as an integer
                parameter_values[name] = _typed(definition["defaultValue"], definition["parameterType"])
        scheme = world.pipeline_root.split("://", 1)[0] + "://"
        prefix = LOCAL_PREFIX[scheme]
        output_root = f"{world.pipeline_root.rstrip('/')}/{self.spec['pipelineInfo']['name']}/{self.run_id}/" \
                      f"{where.replace('[', '/').replace(']', '')}"
        outputs_spec = component.get("outputDefinitions", {})
        output_artifacts = {
            name: [{"name": name, "type": definition["artifactType"], "uri": f"{output_root}/{name}", "metadata": {}}]
            for name, definition in outputs_spec.get("artifacts", {}).items()}
        executor_input = {
            "inputs": {"parameterValues": parameter_values,
                       "artifacts": {name: {"artifacts": [_runtime_artifact(a) for a in artifacts[name]]}
                                     for name in definitions.get("artifacts", {}) if name in artifacts}},
            "outputs": {"artifacts": {name: {"artifacts": [_runtime_artifact(a) for a in value]}
                                      for name, value in output_artifacts.items()},
                        "parameters": {name: {"outputFile": f"/tmp/kfp/outputs/{name}"}
                                       for name in outputs_spec.get("parameters", {})},
                        "outputFile": OUTPUT_METADATA},
        }

        # The launcher's download: input artifacts from the store into the paths the executor computes.
        local_store = pod_dir / "store-mount"
        local_store.mkdir(parents=True)
        for name in definitions.get("artifacts", {}):
            for artifact in artifacts.get(name, []):
                source = world.store_path(artifact["uri"])
                target = local_store / artifact["uri"].split("://", 1)[1]
                target.parent.mkdir(parents=True, exist_ok=True)
                if source.is_dir():
                    shutil.copytree(source, target, symlinks=True)
                elif source.is_file():
                    shutil.copy2(source, target)
        launcher_files = pod_dir / "kfp_outputs"
        launcher_params = pod_dir / "kfp"
        launcher_files.mkdir()
        launcher_params.mkdir()

        # The pod.
        mounts = [sandbox.Mount(local_store, prefix.rstrip("/")),
                  sandbox.Mount(launcher_files, str(Path(OUTPUT_METADATA).parent)),
                  sandbox.Mount(launcher_params, "/tmp/kfp"),
                  world.service_account_mount(pod_dir, world.namespace, world.service_account),
                  world.hosts_mount(pod_dir, pod_name)]
        tmpfs: list[str] = []
        labels = dict(k8s.get("podMetadata", {}).get("labels", {}))
        env = {**world.kubelet_env(pod_name), "KFP_POD_NAME": pod_name, "KFP_POD_UID": pod_uid}
        for item in container.get("env", []):
            env[item["name"]] = item.get("value", "")
        for entry in k8s.get("configMapAsEnv", []):
            env.update(world.values("ConfigMap", _k8s_name(entry, "configMapName", params), _key_pairs(entry, "configMapKey"),
                                    entry.get("optional", False), pod_name))
        for entry in k8s.get("secretAsEnv", []):
            env.update(world.values("Secret", _k8s_name(entry, "secretName", params), _key_pairs(entry, "secretKey"),
                                    entry.get("optional", False), pod_name))
        for entry in k8s.get("fieldPathAsEnv", []):
            env[entry["name"]] = _field(entry["fieldPath"], pod_name, world.namespace, pod_uid, labels)
        for entry in k8s.get("pvcMount", []):
            claim = _k8s_name(entry, "constant", params, parameter_key="pvcNameParameter")
            source = world.pvc_folder(claim, pod_name, world.namespace) / entry.get("subPath", "")
            mounts.append(sandbox.Mount(source, entry["mountPath"], bool(entry.get("readOnly", False))))
        for entry in k8s.get("emptyDirMounts", []):
            tmpfs.append(entry["mountPath"])
        for kind, key in (("ConfigMap", "configMapAsVolume"), ("Secret", "secretAsVolume")):
            for entry in k8s.get(key, []):
                name = _k8s_name(entry, "configMapName" if kind == "ConfigMap" else "secretName", params)
                folder = pod_dir / "volumes" / name
                folder.mkdir(parents=True, exist_ok=True)
                for file_name, value in world.values(kind, name, None, entry.get("optional", False), pod_name).items():
                    (folder / file_name).write_text(value)
                mounts.append(sandbox.Mount(folder, entry["mountPath"], read_only=True))
        modelled = {"configMapAsEnv", "secretAsEnv", "fieldPathAsEnv", "pvcMount", "emptyDirMounts", "configMapAsVolume",
                    "secretAsVolume", "securityContext", "podMetadata", "enabledSharedMemory"}
        for key in sorted(set(k8s) - modelled):
            note = f"{executor_label}: platform setting {key!r} is not modelled by the rehearsal"
            if note not in self.result.notes:
                self.result.notes.append(note)
        context = k8s.get("securityContext", {})
        image = sandbox.image_config(container["image"])
        uid = int(context.get("runAsUser", image.user if image.user.isdigit() else 0))
        gid = int(context.get("runAsGroup", uid))
        argv = [arg.replace("{{$}}", json.dumps(executor_input)) for arg in [*container.get("command", []),
                                                                             *container.get("args", [])]]
        spec = sandbox.Container(pod_name, argv, env, image, uid=uid, gid=gid, mounts=mounts, tmpfs=tmpfs)
        (pod_dir / "executor_input.json").write_text(json.dumps(executor_input, indent=1))
        world.api.live_pods[(world.namespace, pod_name)] = pod_uid
        try:
            sandbox.run(spec, world.runtime, pod_dir / "log.txt", f"pod {pod_name} ({where})")
        finally:
            del world.api.live_pods[(world.namespace, pod_name)]

        # The launcher's upload: output artifacts into the store, metadata and parameters from the outputs file.
        metadata_file = launcher_files / Path(OUTPUT_METADATA).name
        executor_output = json.loads(metadata_file.read_text()) if metadata_file.is_file() else {}
        produced = {}
        for name, listed in output_artifacts.items():
            updated = executor_output.get("artifacts", {}).get(name, {}).get("artifacts", [])
            artifact = copy.deepcopy(listed[0])
            if updated:
                artifact["metadata"] = updated[0].get("metadata", {})
                artifact["uri"] = updated[0].get("uri", artifact["uri"])
            local = local_store / artifact["uri"].split("://", 1)[1]
            target = world.store_path(artifact["uri"])
            target.parent.mkdir(parents=True, exist_ok=True)
            if local.is_dir():
                try:
                    shutil.copytree(local, target, dirs_exist_ok=True)  # links are followed, as an upload reads files
                except shutil.Error as exc:
                    raise sandbox.PodFailed(f"pod {pod_name}: the launcher could not upload {name}: {exc}") from exc
            elif local.is_file():
                shutil.copy2(local, target)
            produced[name] = [artifact]
        self.result.artifacts[where] = produced
        parameters = dict(executor_output.get("parameterValues", {}))
        for name in outputs_spec.get("parameters", {}):
            written = launcher_params / "outputs" / name
            if name not in parameters and written.is_file():
                parameters[name] = written.read_text()
        self.result.parameters[where] = parameters
        return {"parameters": parameters, "artifacts": produced}


def _upstream(task: dict) -> list[str]:
    names = set(task.get("dependentTasks", []))
    for spec in task.get("inputs", {}).get("parameters", {}).values():
        for key in ("taskOutputParameter", "taskFinalStatus"):
            if key in spec:
                names.add(spec[key]["producerTask"])
    for spec in task.get("inputs", {}).get("artifacts", {}).values():
        if "taskOutputArtifact" in spec:
            names.add(spec["taskOutputArtifact"]["producerTask"])
    return sorted(names)


def _typed(value: Any, parameter_type: str) -> Any:
    if value is None:
        return None
    if parameter_type == "NUMBER_INTEGER":
        return int(value)
    if parameter_type == "NUMBER_DOUBLE":
        return float(value)
    if parameter_type == "BOOLEAN":
        return value if isinstance(value, bool) else str(value).lower() == "true"
    if parameter_type == "STRING":
        return value if isinstance(value, str) else str(value)
    return value


def _runtime_artifact(artifact: dict) -> dict:
    return {"name": artifact["name"], "type": artifact["type"], "uri": artifact["uri"],
            "metadata": artifact.get("metadata", {})}


def _k8s_name(entry: dict, constant_key: str, params: dict, parameter_key: str | None = None) -> str:
    parameter = entry.get(parameter_key or f"{constant_key}Parameter", {})
    if "runtimeValue" in parameter:
        return parameter["runtimeValue"]["constant"]
    if "componentInputParameter" in parameter:
        return params[parameter["componentInputParameter"]]
    return entry[constant_key]


def _key_pairs(entry: dict, key_field: str) -> list[tuple[str, str]] | None:
    pairs = [(item[key_field], item["envVar"]) for item in entry.get("keyToEnv", [])]
    return pairs or None


def _condition_holds(condition: str, params: dict) -> bool:
    """A `dsl.If` condition (CEL over the task's inputs), evaluated in Python."""
    expression = condition.replace("inputs.parameter_values", "P").replace("&&", " and ").replace("||", " or ")
    expression = re.sub(r"!(?!=)", " not ", expression).replace("true", "True").replace("false", "False")
    return bool(eval(expression, {"__builtins__": {}}, {"P": params, "int": int, "double": float,
                                                        "string": str}))
