"""Offline checks for the Kubernetes objects the platform creates or ships.

The API server would validate built-in kinds for us, but no server is at hand when a job is
built or a kustomize overlay is reviewed, and CRDs (PyTorchJob) have no schema in
`kubernetes_validate`. So: built-in kinds against the published OpenAPI schemas; a PyTorchJob
against the Training Operator CRD's own openAPIV3Schema (vendored in
`schemas/pytorchjob-v1.yaml`, checked with jsonschema and, as `kubectl apply` does by default,
refusing unknown fields), its pod templates against the core `PodTemplate` schema, and then the
rules the operator applies beyond its schema (replica types, restart policies, the `pytorch`
container); a Kubeflow `Profile` (the multi-user namespace) against its CRD schema (vendored in
`schemas/profile-v1.yaml`) and its owner; finally the pod security rules the namespace enforces
("restricted").
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path
from typing import Any

KUBERNETES_VERSION = "1.33.0"
PYTORCHJOB_API_VERSION = "kubeflow.org/v1"
PYTORCHJOB_REPLICA_TYPES = ("Master", "Worker")
RESTART_POLICIES = ("Always", "OnFailure", "Never", "ExitCode")
PROFILE_API_VERSION = "kubeflow.org/v1"
PROFILE_OWNER_KINDS = ("User", "Group", "ServiceAccount")
CUSTOM_KINDS = {"PyTorchJob", "Profile"}


class ManifestInvalid(ValueError):
    """A Kubernetes object that the cluster would reject (or that breaks our security rules)."""


def schema_problems(doc: dict[str, Any], k8s_version: str = KUBERNETES_VERSION) -> list[str]:
    """Problems with one object per the published Kubernetes schema (strict: unknown fields fail)."""
    import kubernetes_validate
    from kubernetes_validate.utils import SchemaNotFoundError, ValidationError

    kind = doc.get("kind", "?")
    name = doc.get("metadata", {}).get("name", "?")
    if kind == "PyTorchJob":
        return pytorchjob_problems(doc, k8s_version)
    if kind == "Profile":
        return profile_problems(doc)
    try:
        kubernetes_validate.validate(doc, k8s_version, strict=True)
    except ValidationError as exc:
        return [f"{kind}/{name}: {exc.message} at {'.'.join(str(p) for p in exc.path) or '<root>'}"]
    except SchemaNotFoundError:
        return [f"{kind}/{name}: no schema for {doc.get('apiVersion')}/{kind} in Kubernetes {k8s_version}"]
    return []


PYTORCHJOB_SCHEMA = Path(__file__).with_name("schemas") / "pytorchjob-v1.yaml"
PROFILE_SCHEMA = Path(__file__).with_name("schemas") / "profile-v1.yaml"


def _strict(schema: Any) -> Any:
    """The CRD schema with unknown fields refused: every object that lists its properties (and
    does not say `x-kubernetes-preserve-unknown-fields`) gets `additionalProperties: false`,
    as kubectl's default strict field validation does."""
    if isinstance(schema, dict):
        schema = {key: _strict(value) for key, value in schema.items()}
        if ("properties" in schema and "additionalProperties" not in schema
                and not schema.get("x-kubernetes-preserve-unknown-fields")):
            schema["additionalProperties"] = False
        return schema
    if isinstance(schema, list):
        return [_strict(item) for item in schema]
    return schema


@lru_cache(maxsize=2)
def _crd_validator(schema_path: Path):
    import jsonschema
    import yaml

    schema = _strict(yaml.safe_load(schema_path.read_text()))
    return jsonschema.Draft7Validator(schema, format_checker=jsonschema.Draft7Validator.FORMAT_CHECKER)


def _pytorchjob_validator():
    return _crd_validator(PYTORCHJOB_SCHEMA)


def _custom_object_problems(doc: dict[str, Any], where: str, api_version: str, validator) -> list[str]:
    """What every custom object of ours must get right: its apiVersion, a name, and its CRD's
    schema (each problem with the path of the bad field)."""
    problems = []
    if doc.get("apiVersion") != api_version:
        problems.append(f"{where}: apiVersion must be {api_version}, got {doc.get('apiVersion')!r}")
    if not doc.get("metadata", {}).get("name"):
        problems.append(f"{where}: metadata.name is required")
    for error in sorted(validator.iter_errors(doc), key=lambda e: list(map(str, e.absolute_path))):
        at = ".".join(str(part) for part in error.absolute_path) or "<root>"
        problems.append(f"{where}: {at}: {error.message}")
    return problems


def profile_problems(profile: dict[str, Any]) -> list[str]:
    """A Kubeflow multi-user Profile (kubeflow.org/v1, cluster-scoped; the profile controller
    makes its namespace): the CRD's schema (vendored in `schemas/profile-v1.yaml`, unknown fields
    refused), no namespace on the object, and an owner the controller can bind (`spec.owner`
    kind User, Group or ServiceAccount, with a name)."""
    where = f"Profile/{profile.get('metadata', {}).get('name', '?')}"
    problems = _custom_object_problems(profile, where, PROFILE_API_VERSION, _crd_validator(PROFILE_SCHEMA))
    if profile.get("metadata", {}).get("namespace"):
        problems.append(f"{where}: a Profile is cluster-scoped; metadata.namespace must not be set")
    owner = (profile.get("spec") or {}).get("owner")
    if not isinstance(owner, dict):
        problems.append(f"{where}: spec.owner is required (the user who owns the profile namespace)")
    else:
        if owner.get("kind") not in PROFILE_OWNER_KINDS:
            problems.append(f"{where}: spec.owner.kind must be one of {PROFILE_OWNER_KINDS}, got {owner.get('kind')!r}")
        if not owner.get("name"):
            problems.append(f"{where}: spec.owner.name is required")
    return problems


def pytorchjob_problems(job: dict[str, Any], k8s_version: str = KUBERNETES_VERSION) -> list[str]:
    """A Kubeflow Training Operator PyTorchJob (kubeflow.org/v1): the CRD's schema (each problem
    with the path of the bad field), each replica's pod template against the core `PodTemplate`
    schema, and the operator's own rules (Master and Worker only, exactly one Master, restart
    policies, the training container named `pytorch`)."""
    name = job.get("metadata", {}).get("name", "?")
    where = f"PyTorchJob/{name}"
    problems = _custom_object_problems(job, where, PYTORCHJOB_API_VERSION, _pytorchjob_validator())
    spec = job.get("spec")
    replicas = spec.get("pytorchReplicaSpecs") if isinstance(spec, dict) else None
    nproc = spec.get("nprocPerNode") if isinstance(spec, dict) else None
    if isinstance(nproc, str) and not (nproc.isdigit() or nproc in ("auto", "cpu", "gpu")):
        problems.append(f"{where}: spec.nprocPerNode must be a number of processes or auto, cpu, gpu; got {nproc!r}")
    if not isinstance(replicas, dict):
        return problems
    if "Master" not in replicas:
        problems.append(f"{where}: spec.pytorchReplicaSpecs.Master is required")
    for replica_type, replica in replicas.items():
        at = f"{where}: spec.pytorchReplicaSpecs.{replica_type}"
        if replica_type not in PYTORCHJOB_REPLICA_TYPES:
            problems.append(f"{at}: replica type must be one of {PYTORCHJOB_REPLICA_TYPES}")
            continue
        if not isinstance(replica, dict):
            continue
        count = replica.get("replicas", 1)
        if isinstance(count, int) and (count < 1 or (replica_type == "Master" and count != 1)):
            problems.append(f"{at}.replicas must be a positive integer (exactly 1 for Master), got {count!r}")
        if replica.get("restartPolicy", "OnFailure") not in RESTART_POLICIES:
            problems.append(f"{at}.restartPolicy must be one of {RESTART_POLICIES}")
        template = replica.get("template")
        if not isinstance(template, dict) or not isinstance(template.get("spec"), dict):
            problems.append(f"{at}.template.spec is required")
            continue
        containers = template["spec"].get("containers", [])
        if not any(isinstance(c, dict) and c.get("name") == "pytorch" for c in containers):
            problems.append(f"{at}: the training container must be named 'pytorch' (the operator injects the rendezvous into it)")
        wrapped = {"apiVersion": "v1", "kind": "PodTemplate",
                   "metadata": {"name": f"{name}-{replica_type.lower()}"}, "template": template}
        problems += [p.replace("PodTemplate/", f"{at}.template: ") for p in schema_problems(wrapped, k8s_version)]
    return problems


def pod_specs(doc: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(where, pod spec) for every pod template an object carries."""
    kind, name = doc.get("kind"), doc.get("metadata", {}).get("name", "?")
    spec = doc.get("spec", {})
    if kind in ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"):
        yield f"{kind}/{name}", spec.get("template", {}).get("spec", {})
    elif kind == "CronJob":
        yield f"{kind}/{name}", spec.get("jobTemplate", {}).get("spec", {}).get("template", {}).get("spec", {})
    elif kind == "Pod":
        yield f"{kind}/{name}", spec
    elif kind == "PyTorchJob":
        for replica_type, replica in spec.get("pytorchReplicaSpecs", {}).items():
            yield f"{kind}/{name}[{replica_type}]", replica.get("template", {}).get("spec", {})


def pod_security_problems(where: str, pod_spec: dict[str, Any]) -> list[str]:
    """Our rules for every pod: non-root with RuntimeDefault seccomp, no host namespaces or host
    paths, and per container no privilege escalation, read-only root filesystem, all
    capabilities dropped, CPU and memory requests set."""
    problems: list[str] = []
    pod_ctx = pod_spec.get("securityContext", {})
    if pod_ctx.get("runAsNonRoot") is not True:
        problems.append(f"{where}: securityContext.runAsNonRoot must be true")
    if pod_ctx.get("runAsUser", 1) == 0:
        problems.append(f"{where}: securityContext.runAsUser must not be 0")
    if pod_ctx.get("seccompProfile", {}).get("type") != "RuntimeDefault":
        problems.append(f"{where}: securityContext.seccompProfile.type must be RuntimeDefault")
    for host_field in ("hostNetwork", "hostPID", "hostIPC"):
        if pod_spec.get(host_field):
            problems.append(f"{where}: {host_field} must not be set")
    for volume in pod_spec.get("volumes", []):
        if "hostPath" in volume:
            problems.append(f"{where}: volume {volume.get('name')!r} uses hostPath")
    for container in pod_spec.get("initContainers", []) + pod_spec.get("containers", []):
        at = f"{where} container {container.get('name')!r}"
        ctx = container.get("securityContext", {})
        if ctx.get("allowPrivilegeEscalation") is not False:
            problems.append(f"{at}: allowPrivilegeEscalation must be false")
        if ctx.get("readOnlyRootFilesystem") is not True:
            problems.append(f"{at}: readOnlyRootFilesystem must be true")
        if ctx.get("privileged"):
            problems.append(f"{at}: privileged must not be true")
        if "ALL" not in ctx.get("capabilities", {}).get("drop", []):
            problems.append(f"{at}: capabilities.drop must include ALL")
        if ctx.get("capabilities", {}).get("add"):
            problems.append(f"{at}: capabilities.add must be empty")
        requests = container.get("resources", {}).get("requests", {})
        for resource in ("cpu", "memory"):
            if resource not in requests:
                problems.append(f"{at}: resources.requests.{resource} must be set")
        if "image" not in container:
            problems.append(f"{at}: image is required")
    return problems


# The Pod Security Standard "restricted" (Kubernetes 1.33, `enforce-version: latest`), field by
# field as Pod Security Admission applies it: a setting may sit on the pod or on each container
# where the standard allows either. `pod_security_problems` is stricter (our own rules for pods
# we write); this is exactly what the namespace refuses, for pods that others build from our
# templates (the Training Operator's Worker with its injected init container, KFP's step pod).
RESTRICTED_VOLUME_TYPES = ("configMap", "csi", "downwardAPI", "emptyDir", "ephemeral", "persistentVolumeClaim",
                           "projected", "secret")
SAFE_SYSCTLS = ("kernel.shm_rmid_forced", "net.ipv4.ip_local_port_range", "net.ipv4.ip_unprivileged_port_start",
                "net.ipv4.tcp_syncookies", "net.ipv4.ping_group_range", "net.ipv4.ip_local_reserved_ports",
                "net.ipv4.tcp_keepalive_time", "net.ipv4.tcp_fin_timeout", "net.ipv4.tcp_keepalive_intvl",
                "net.ipv4.tcp_keepalive_probes")


def restricted_pss_problems(where: str, pod_spec: dict[str, Any]) -> list[str]:
    """What the `restricted` Pod Security level refuses in one pod: host namespaces, ports and
    paths, volume types outside its list, unsafe sysctls, and per container (init containers
    included) privilege, privilege escalation, capabilities other than dropping ALL (adding only
    NET_BIND_SERVICE), root (runAsNonRoot on the pod or the container, never uid 0) and a seccomp
    profile other than RuntimeDefault or Localhost (on the pod or the container)."""
    problems: list[str] = []
    pod_ctx = pod_spec.get("securityContext") or {}
    for host_field in ("hostNetwork", "hostPID", "hostIPC"):
        if pod_spec.get(host_field):
            problems.append(f"{where}: {host_field} must not be true")
    for volume in pod_spec.get("volumes") or []:
        kinds = sorted(set(volume) - {"name"} - set(RESTRICTED_VOLUME_TYPES))
        if kinds:
            problems.append(f"{where}: volume {volume.get('name')!r} of type {', '.join(kinds)} is not allowed "
                            f"(restricted allows {', '.join(RESTRICTED_VOLUME_TYPES)})")
    for sysctl in pod_ctx.get("sysctls") or []:
        if sysctl.get("name") not in SAFE_SYSCTLS:
            problems.append(f"{where}: sysctl {sysctl.get('name')!r} is not allowed")
    if pod_ctx.get("runAsUser") == 0:
        problems.append(f"{where}: securityContext.runAsUser must not be 0")
    pod_seccomp = (pod_ctx.get("seccompProfile") or {}).get("type")
    if pod_seccomp == "Unconfined":
        problems.append(f"{where}: securityContext.seccompProfile.type must not be Unconfined")
    containers = [*(pod_spec.get("initContainers") or []), *(pod_spec.get("containers") or []),
                  *(pod_spec.get("ephemeralContainers") or [])]
    for container in containers:
        at = f"{where} container {container.get('name')!r}"
        ctx = container.get("securityContext") or {}
        if ctx.get("privileged"):
            problems.append(f"{at}: privileged must not be true")
        if ctx.get("allowPrivilegeEscalation") is not False:
            problems.append(f"{at}: securityContext.allowPrivilegeEscalation must be false")
        capabilities = ctx.get("capabilities") or {}
        if "ALL" not in (capabilities.get("drop") or []):
            problems.append(f"{at}: securityContext.capabilities.drop must include ALL")
        added = sorted(set(capabilities.get("add") or []) - {"NET_BIND_SERVICE"})
        if added:
            problems.append(f"{at}: securityContext.capabilities.add may only hold NET_BIND_SERVICE, not {added}")
        if ctx.get("runAsNonRoot", pod_ctx.get("runAsNonRoot")) is not True:
            problems.append(f"{at}: runAsNonRoot must be true (on the pod or the container)")
        if ctx.get("runAsUser") == 0:
            problems.append(f"{at}: securityContext.runAsUser must not be 0")
        seccomp = (ctx.get("seccompProfile") or {}).get("type", pod_seccomp)
        if seccomp not in ("RuntimeDefault", "Localhost"):
            problems.append(f"{at}: seccompProfile.type must be RuntimeDefault or Localhost (on the pod or the "
                            f"container), got {seccomp!r}")
        if ctx.get("procMount", "Default") != "Default":
            problems.append(f"{at}: securityContext.procMount must be Default")
        if (ctx.get("windowsOptions") or {}).get("hostProcess"):
            problems.append(f"{at}: windowsOptions.hostProcess must not be true")
        for port in container.get("ports") or []:
            if port.get("hostPort"):
                problems.append(f"{at}: hostPort {port['hostPort']} is not allowed")
    return problems


def check_objects(docs: list[dict[str, Any]], k8s_version: str = KUBERNETES_VERSION) -> list[str]:
    """Every problem in a set of objects: schema, CRD shape, pod security."""
    problems: list[str] = []
    for doc in docs:
        problems += schema_problems(doc, k8s_version)
        for where, pod_spec in pod_specs(doc):
            problems += pod_security_problems(where, pod_spec)
    return problems


def ensure_valid(docs: list[dict[str, Any]], k8s_version: str = KUBERNETES_VERSION) -> None:
    """Raise ManifestInvalid listing every problem, so a bad job never reaches the cluster."""
    problems = check_objects(docs, k8s_version)
    if problems:
        raise ManifestInvalid("invalid Kubernetes objects:\n  " + "\n  ".join(problems))
