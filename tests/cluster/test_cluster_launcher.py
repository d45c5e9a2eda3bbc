"""The PyTorchJob launcher against a small HTTP server on 127.0.0.1 that answers the Kubernetes
REST paths the launcher uses. No API server can run on this machine (no kube-apiserver, kind or
k3s), so this server stands in for one; the real `kubernetes` client code path runs unchanged:
URL building, JSON bodies, bearer-token auth header, error statuses. Every reply it sends is
checked against the real API's shapes first (`checked_reply`): a Status against the kubernetes
client's V1Status model, a PyTorchJob against the Training Operator CRD's schema, so the stand-in
cannot drift from what a cluster answers (the same check as the rehearsal's API server,
tests/cluster/rehearsal/kube.py)."""

from __future__ import annotations

import threading
from http.server import ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote

import pytest
from kubernetes import client
from rehearsal.kube import checked_reply  # the stand-in's replies are checked against the real API's shapes
from testkit.http import QuietHandler, read_json, send_body

from affectgpt.cluster import (
    K8sTrainOptions,
    ManifestInvalid,
    TrainJobSpec,
    build_pytorchjob,
    ensure_valid,
    train_on_backend,
)
from affectgpt.cluster.backend import release_run_jobs
from affectgpt.cluster.launcher import TrainingJobFailed, job_status, submit_job, wait_for_job
from affectgpt.paths import packaged_config

JOBS = "/apis/kubeflow.org/v1/namespaces/affectgpt/pytorchjobs"
TOKEN = "test-token-123"


class FakeApiServer:
    """Stores PyTorchJobs; each GET of a job moves it one step along `script` (its conditions),
    as the Training Operator would; `on_finish(job)` runs when the job reaches its last step."""

    def __init__(self, script: list[str], log_lines: list[str], on_finish=None):
        self.jobs: dict[str, dict] = {}
        self.steps: dict[str, int] = {}  # the stand-in's bookkeeping, never in a reply
        self.finished: set[str] = set()
        self.requests: list[tuple[str, str, dict | None, str]] = []
        self.script, self.log_lines, self.on_finish = script, log_lines, on_finish
        server = self

        class Handler(QuietHandler):
            def _send(self, code: int, payload, content_type="application/json"):
                send_body(self, code, payload if isinstance(payload, bytes) else checked_reply(payload), content_type)

            def _record(self):
                body = read_json(self)
                server.requests.append((self.command, self.path, body, self.headers.get("Authorization", "")))
                return body

            def do_POST(self):
                body = self._record()
                name = body["metadata"]["name"]
                if name in server.jobs:
                    return self._send(409, {"kind": "Status", "reason": "AlreadyExists", "code": 409})
                body["status"] = {}
                server.steps[name] = 0
                server.jobs[name] = body
                self._send(201, body)

            def do_DELETE(self):
                self._record()
                server.jobs.pop(self.path.rsplit("/", 1)[-1], None)
                self._send(200, {"kind": "Status", "status": "Success"})

            def do_GET(self):
                self._record()
                path, _, query = self.path.partition("?")
                if path.endswith("/pytorchjobs"):  # a list, filtered by one `key=value` label selector
                    selector = dict(part.split("=", 1) for part in query.split("&") if part)
                    key, _, value = unquote(selector.get("labelSelector", "")).partition("=")
                    items = [job for job in server.jobs.values()
                             if not key or job["metadata"].get("labels", {}).get(key) == value]
                    return self._send(200, {"apiVersion": "kubeflow.org/v1", "kind": "PyTorchJobList",
                                            "metadata": {}, "items": items})
                if "/pods/" in self.path:
                    text = "".join(f"2026-01-01T00:00:{i:02d}Z {line}\n" for i, line in enumerate(server.log_lines))
                    return self._send(200, text.encode(), "text/plain")
                name = self.path.split("?")[0].rsplit("/", 1)[-1]
                job = server.jobs.get(name)
                if job is None:
                    return self._send(404, {"kind": "Status", "reason": "NotFound", "code": 404})
                step = min(server.steps[name], len(server.script) - 1)
                job["status"] = {
                    "conditions": [{"type": t, "status": "True", "message": f"job is {t.lower()}"}
                                   for t in server.script[: step + 1]],
                    "replicaStatuses": {"Master": {"active": 1}},
                }
                if step == len(server.script) - 1 and server.on_finish and name not in server.finished:
                    server.finished.add(name)
                    server.on_finish(job)
                server.steps[name] += 1
                self._send(200, job)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()

    def api_client(self) -> client.ApiClient:
        configuration = client.Configuration()
        configuration.host = f"http://127.0.0.1:{self.httpd.server_port}"
        configuration.api_key = {"authorization": TOKEN}
        configuration.api_key_prefix = {"authorization": "Bearer"}
        return client.ApiClient(configuration)


def spec(**overrides) -> TrainJobSpec:
    values = {"name": "affectgpt-train-t1", "config_path": "/data/c.yaml", "data_dir": "/data/d", "out_dir": "/data/o"}
    return TrainJobSpec(**(values | overrides))


def test_build_sizes_the_job_for_n_gpus():
    job = build_pytorchjob(spec(nodes=3, gpus_per_node=4))
    replicas = job["spec"]["pytorchReplicaSpecs"]
    assert replicas["Worker"]["replicas"] == 2 and job["spec"]["nprocPerNode"] == "4"
    assert job["metadata"]["annotations"]["affectgpt.io/world-size"] == "12"
    pod = replicas["Master"]["template"]["spec"]
    assert pod["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] == "4"
    assert pod["tolerations"][0]["key"] == "nvidia.com/gpu"
    cpu_job = build_pytorchjob(spec())
    cpu_container = cpu_job["spec"]["pytorchReplicaSpecs"]["Master"]["template"]["spec"]["containers"][0]
    assert "Worker" not in cpu_job["spec"]["pytorchReplicaSpecs"]
    assert {"name": "DS_ACCELERATOR", "value": "cpu"} in cpu_container["env"]


def test_bad_values_never_reach_the_cluster():
    with pytest.raises(ValueError, match="lower-case"):
        spec(name="Train_Job")
    with pytest.raises(ValueError, match="greater than or equal to 1"):
        spec(nodes=0)
    job = build_pytorchjob(spec())
    job["spec"]["pytorchReplicaSpecs"]["Master"]["template"]["spec"]["containers"][0]["env"] = {"A": "1"}
    job["spec"]["pytorchReplicaSpecs"]["Launcher"] = {}
    with pytest.raises(ManifestInvalid, match="(?s)containers.0.env.*Launcher: replica type"):
        ensure_valid([job])


def test_submit_and_follow_to_success_streams_status_and_log():
    with FakeApiServer(["Created", "Running", "Running", "Succeeded"], ["step 1 loss 2.0", "step 2 loss 1.5"]) as api:
        api_client = api.api_client()
        submit_job(build_pytorchjob(spec()), api_client)
        statuses, logs = [], []
        final = wait_for_job("affectgpt-train-t1", "affectgpt", api_client, poll_s=0.01,
                             on_status=statuses.append, on_log=logs.append)
    assert final.phase == "Succeeded"
    assert [s.phase for s in statuses] == ["Created", "Running", "Succeeded"]
    assert logs == ["step 1 loss 2.0", "step 2 loss 1.5"]  # each line once, although read on every poll
    method, path, body, auth = api.requests[0]
    assert (method, path, auth) == ("POST", JOBS, f"Bearer {TOKEN}")
    assert body["kind"] == "PyTorchJob" and body["spec"]["pytorchReplicaSpecs"]["Master"]["replicas"] == 1
    assert any(p.startswith("/api/v1/namespaces/affectgpt/pods/affectgpt-train-t1-master-0/log") for _, p, _, _ in api.requests)


def test_failure_raises_with_reason_and_log_tail_and_resubmit_replaces_failed_job():
    with FakeApiServer(["Created", "Failed"], ["Traceback: CUDA out of memory"]) as api:
        api_client = api.api_client()
        job = build_pytorchjob(spec())
        submit_job(job, api_client)
        with pytest.raises(TrainingJobFailed, match="(?s)job is failed.*CUDA out of memory"):
            wait_for_job("affectgpt-train-t1", "affectgpt", api_client, poll_s=0.01)
        submit_job(job, api_client)  # the failed job is deleted and created again
    methods = [m for m, _, _, _ in api.requests]
    assert methods.count("POST") == 3 and "DELETE" in methods


def test_job_status_takes_the_latest_true_condition():
    job = {"metadata": {"name": "j"}, "status": {"conditions": [
        {"type": "Created", "status": "True"}, {"type": "Running", "status": "False"},
        {"type": "Restarting", "status": "True", "message": "worker 1 restarted"}]}}
    status = job_status(job)
    assert (status.phase, status.message) == ("Restarting", "worker 1 restarted")


def test_k8s_backend_stages_data_and_copies_the_model_back(tmp_path: Path):
    shared, data, config = tmp_path / "pvc", tmp_path / "dataset", tmp_path / "tiny.yaml"
    features = tmp_path / "features"
    shared.mkdir(), data.mkdir(), features.mkdir()
    (data / "records.parquet").write_bytes(b"PAR1 demo")
    (features / "demo_00001.safetensors").write_bytes(b"tensor bytes")
    config.write_text(packaged_config("tiny.yaml").read_text())  # the step loads it to check the job's shape

    def operator_finishes(job):
        # What the training pods would leave on the shared volume.
        pod_out = job["spec"]["pytorchReplicaSpecs"]["Master"]["template"]["spec"]["containers"][0]["args"][2]
        model = shared / Path(pod_out.removeprefix("--out=/data/"))
        model.mkdir(parents=True)
        (model / "manifest.json").write_text('{"step": "train"}')

    lines: list[str] = []
    with FakeApiServer(["Created", "Running", "Succeeded"], ["done"], on_finish=operator_finishes) as api:
        outcome = train_on_backend(config, data, tmp_path / "model", features_dir=features, backend="k8s",
                                   api_client=api.api_client(),
                               k8s=K8sTrainOptions(shared_dir=str(shared), poll_s=0.01, gpus_per_node=8, nodes=2),
                               echo=lines.append)
    assert (outcome.model_dir / "manifest.json").read_text() == '{"step": "train"}'
    assert outcome.job_name.startswith("affectgpt-train-") and outcome.backend == "k8s"
    posted = api.requests[0][2]
    args = posted["spec"]["pytorchReplicaSpecs"]["Master"]["template"]["spec"]["containers"][0]["args"]
    stage = next(shared.glob("train-jobs/*"))
    assert args[1] == f"--data=/data/train-jobs/{stage.name}/data"
    assert (stage / "data" / "records.parquet").read_bytes() == b"PAR1 demo"
    staged_features = stage / "data" / "features" / "demo_00001.safetensors"
    assert not staged_features.is_symlink() and staged_features.read_bytes() == b"tensor bytes"  # real copies
    # Same content -> same job name (a retried step re-attaches); other features -> another job.
    from affectgpt.cluster.backend import training_data_dir, training_key

    key = training_key(config, training_data_dir(data, features, tmp_path / "view1"))
    assert stage.name == key
    (features / "demo_00001.safetensors").write_bytes(b"other tensor bytes")
    assert training_key(config, training_data_dir(data, features, tmp_path / "view2")) != key
    assert lines[0].startswith("submitting PyTorchJob affectgpt/affectgpt-train-") and "world size 16" in lines[0]
    with pytest.raises(FileNotFoundError, match="shared data volume is not mounted"):
        train_on_backend(config, data, tmp_path / "m2", backend="k8s", k8s=K8sTrainOptions(shared_dir=str(tmp_path / "nope")))


def test_k8s_backend_refuses_a_job_no_node_can_run_before_staging_or_submitting(tmp_path: Path, monkeypatch):
    """The train step checks the job's shape as `cluster train-job` does: pods of more GPUs than
    a node of the pool has ($AFFECTGPT_NODE_GPUS, mapped from the platform ConfigMap), or a world
    size the config's batch cannot make, are refused before anything is staged or sent."""
    from affectgpt.errors import BadInput

    shared, data, config = tmp_path / "pvc", tmp_path / "dataset", tmp_path / "tiny.yaml"
    shared.mkdir(), data.mkdir()
    (data / "records.parquet").write_bytes(b"PAR1 demo")
    config.write_text(packaged_config("tiny.yaml").read_text())
    monkeypatch.setenv("AFFECTGPT_NODE_GPUS", "4")
    with FakeApiServer(["Created"], []) as api:
        with pytest.raises(BadInput, match="8 GPUs per node, but a node of the pool has 4"):
            train_on_backend(config, data, tmp_path / "model", backend="k8s", api_client=api.api_client(),
                             k8s=K8sTrainOptions(shared_dir=str(shared), gpus_per_node=8, nodes=2, timeout_s=2,
                                                 poll_s=0.01))
        config.write_text(packaged_config("tiny.yaml").read_text().replace(
            "  grad_accumulation: 1\n", "  grad_accumulation: 1\n  global_batch_size: 16\n"))
        with pytest.raises(BadInput, match=r"= 4 rank\(s\): train.global_batch_size 16 != "):
            train_on_backend(config, data, tmp_path / "model", backend="k8s", api_client=api.api_client(),
                             k8s=K8sTrainOptions(shared_dir=str(shared), gpus_per_node=2, nodes=2, timeout_s=2,
                                                 poll_s=0.01))
    assert not api.requests and not list(shared.iterdir())  # nothing sent, nothing staged


def test_train_job_command_prints_the_job_or_one_line_errors():
    import yaml
    from typer.testing import CliRunner

    from affectgpt.cli import app

    result = CliRunner().invoke(app, ["cluster", "train-job", "--config", "affectgpt-7b.yaml",
                                      "--data", "/data/d", "--out", "/data/o", "--nodes", "2", "--gpus-per-node", "8"])
    assert result.exit_code == 0, result.output
    job = yaml.safe_load(result.output)
    assert job["kind"] == "PyTorchJob" and job["spec"]["pytorchReplicaSpecs"]["Worker"]["replicas"] == 1
    result = CliRunner().invoke(app, ["cluster", "train-job", "--config", "tiny.yaml", "--data", "d", "--out", "o",
                                      "--name", "Bad_Name"])
    assert result.exit_code == 2 and "--name: Value error, job name 'Bad_Name'" in result.output
    assert "Traceback" not in result.output


def test_train_job_takes_its_size_and_refuses_a_world_size_the_config_cannot_train_on(tmp_path):
    import yaml
    from typer.testing import CliRunner

    from affectgpt.cli import app
    from affectgpt.image_tag import platform_image
    from affectgpt.paths import packaged_config

    args = ["cluster", "train-job", "--data", "/data/d", "--out", "/data/o", "--nodes", "2", "--gpus-per-node", "8"]
    result = CliRunner().invoke(app, [*args, "--config", "affectgpt-7b.yaml", "--memory", "300Gi", "--shm-size", "32Gi"])
    assert result.exit_code == 0, result.output
    pod = yaml.safe_load(result.output)["spec"]["pytorchReplicaSpecs"]["Master"]["template"]["spec"]
    container = pod["containers"][0]
    assert container["resources"]["requests"]["memory"] == "300Gi" and container["image"] == platform_image()
    assert next(v for v in pod["volumes"] if v["name"] == "dshm")["emptyDir"]["sizeLimit"] == "32Gi"
    exact = tmp_path / "exact.yaml"
    exact.write_text(packaged_config("affectgpt-7b.yaml").read_text().replace("batch_policy: per-rank",
                                                                             "batch_policy: exact"))
    refused = CliRunner().invoke(app, [*args, "--config", str(exact)])
    assert refused.exit_code == 2 and "= 16 rank(s)" in refused.output and "apiVersion" not in refused.output


@pytest.mark.parametrize("extra, code, expected", [
    (["--config", "nosuch.yaml"], 4, "nosuch.yaml: config file not found"),
    (["--config", "{bad}"], 2, "line 3, column 1: not valid YAML"),
    (["--config", "{exact}", "--nodes", "3", "--gpus-per-node", "4"], 2,
     ("on 3 node(s) x 4 rank(s) = 12 rank(s): train.global_batch_size 16 != micro_batch_size 8 x grad_accumulation 1 "
      "x world size 12 (= 96)")),
    (["--config", "tiny.yaml", "--gpus-per-node", "20", "--node-gpus", "20"], 2,
     "--cpu is too small for 20 rank(s) per pod: needs >= 40 (2 CPUs per rank)"),
    (["--config", "affectgpt-7b.yaml", "--nodes", "3", "--gpus-per-node", "12"], 2,
     ("--gpus-per-node: 12 GPUs per node, but a node of the pool has 8: no node can schedule the pod (it stays "
      "Pending); ask for at most 8 per node and more nodes")),
    (["--config", "affectgpt-7b.yaml", "--nodes", "3", "--gpus-per-node", "5", "--node-gpus", "4"], 2,
     "--gpus-per-node: 5 GPUs per node, but a node of the pool has 4"),
    (["--config", "affectgpt-7b.yaml", "--nodes", "3", "--gpus-per-node", "5"], 2,
     ("--gpus-per-node: 5 GPUs per node on nodes of 8: each node would keep 3 GPU(s) no rank of the job can use, "
      "and its ranks would cross the node's GPU groups; ask for one of 1, 2, 4, 8 per node")),
    (["--config", "tiny.yaml", "--gpus-per-node", "8", "--shm-size", "4Gi"], 2,
     "--shm-size is too small for 8 rank(s) per pod: needs >= 8Gi (1 GiB /dev/shm per rank"),
])
def test_train_job_refuses_what_training_would_refuse_before_printing_a_job(tmp_path, extra, code, expected):
    """The config goes through the trainer's loader and the world size through the batch
    invariant DeepSpeed's config is built from; the pods must hold their ranks. Nothing is printed
    for a job that would fail once its GPUs are allocated."""
    from typer.testing import CliRunner

    from affectgpt.cli import app
    from affectgpt.paths import packaged_config

    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\ntrain: [1, 2\n")
    exact = tmp_path / "exact16.yaml"  # a fixed global batch of 16: 2 ranks of micro batch 8
    exact.write_text(packaged_config("tiny.yaml").read_text().replace("  grad_accumulation: 1\n",
                                                                       "  grad_accumulation: 1\n  global_batch_size: 16\n"))
    args = [arg.format(bad=bad, exact=exact) for arg in extra]
    result = CliRunner().invoke(app, ["cluster", "train-job", "--data", "/data/d", "--out", "/data/o", *args])
    assert result.exit_code == code, result.output
    assert expected in result.output and "apiVersion" not in result.output and "Traceback" not in result.output
    fits = CliRunner().invoke(app, ["cluster", "train-job", "--data", "/data/d", "--out", "/data/o", "--config",
                                    str(exact), "--nodes", "1", "--gpus-per-node", "2"])
    assert fits.exit_code == 0 and "kind: PyTorchJob" in fits.output


def test_train_job_takes_the_node_pools_gpus_from_the_platform_config(monkeypatch):
    """The pool's GPUs per node: --node-gpus, else $AFFECTGPT_NODE_GPUS (the key every pod gets
    from the platform ConfigMap, infra/steps/platform-config.yaml), else 8, the value shipped."""
    import yaml
    from typer.testing import CliRunner

    from affectgpt.cli import app
    from affectgpt.cluster.job_shape import DEFAULT_NODE_GPUS, NODE_GPUS_ENV

    shipped = yaml.safe_load((Path(__file__).resolve().parents[2] / "infra" / "steps" / "platform-config.yaml")
                             .read_text())["data"]
    assert int(shipped[NODE_GPUS_ENV]) == DEFAULT_NODE_GPUS == 8
    args = ["cluster", "train-job", "--config", "affectgpt-7b.yaml", "--data", "/data/d", "--out", "/data/o",
            "--nodes", "2", "--gpus-per-node", "8"]
    assert CliRunner().invoke(app, args).exit_code == 0
    monkeypatch.setenv(NODE_GPUS_ENV, "4")
    refused = CliRunner().invoke(app, args)
    assert refused.exit_code == 2 and "8 GPUs per node, but a node of the pool has 4" in refused.output
    assert "apiVersion" not in refused.output
    assert CliRunner().invoke(app, [*args, "--node-gpus", "8"]).exit_code == 0  # the option wins
    monkeypatch.setenv(NODE_GPUS_ENV, "eight")
    bad = CliRunner().invoke(app, args)
    assert bad.exit_code == 2 and f"{NODE_GPUS_ENV}='eight': the GPUs of one node must be a whole number" in bad.output


def test_a_runs_exit_handler_deletes_only_its_unfinished_jobs():
    """A cancelled run must not keep its GPUs: its unfinished jobs go, finished ones (logs) and
    other runs' jobs stay. Each job is owned by the train step's pod and mounts the weights."""
    owner = {"apiVersion": "v1", "kind": "Pod", "name": "retrain-train-pod", "uid": "0f0e"}
    with FakeApiServer(["Created", "Running", "Succeeded"], []) as api:
        api_client = api.api_client()
        for name, run in (("affectgpt-train-a", "run-1"), ("affectgpt-train-b", "run-1"), ("affectgpt-train-c", "run-2")):
            submit_job(build_pytorchjob(spec(name=name, labels={"affectgpt.io/kfp-run": run}, owner=owner)), api_client)
        wait_for_job("affectgpt-train-a", "affectgpt", api_client, poll_s=0.01)  # a finished
        lines: list[str] = []
        deleted = release_run_jobs("run-1", namespace="affectgpt", api_client=api_client, echo=lines.append)
        assert deleted == ["affectgpt-train-b"] and set(api.jobs) == {"affectgpt-train-a", "affectgpt-train-c"}
        assert "released 1 unfinished training job(s) of run run-1: affectgpt-train-b" in lines[0]
        assert release_run_jobs("run-3", namespace="affectgpt", api_client=api_client, echo=lines.append) == []
    posted = api.requests[0][2]
    assert posted["metadata"]["ownerReferences"][0] | owner == posted["metadata"]["ownerReferences"][0]
    pod = posted["spec"]["pytorchReplicaSpecs"]["Master"]["template"]
    assert pod["metadata"]["labels"]["affectgpt.io/kfp-run"] == "run-1"
    container = pod["spec"]["containers"][0]
    assert {"name": "models", "mountPath": "/models", "readOnly": True} in container["volumeMounts"]
    assert {"name": "HF_HOME", "value": "/models/hf"} in container["env"]


def test_k8s_options_take_the_step_pods_namespace_and_identity(monkeypatch):
    monkeypatch.setenv("POD_NAMESPACE", "team-a")
    monkeypatch.setenv("POD_NAME", "retrain-xyz-train")
    monkeypatch.setenv("POD_UID", "1234")
    options = K8sTrainOptions()
    assert options.namespace == "team-a" and options.owner_pod == ("retrain-xyz-train", "1234")
    assert (options.nodes, options.gpus_per_node, options.cpu, options.memory, options.shm_size) == (
        2, 8, "32", "256Gi", "64Gi")


def test_the_training_key_reads_a_step_output_by_its_manifest_and_index_not_its_packs(tmp_path):
    """A retried train step recomputes the key: the packed features of a corpus are not read
    again; a re-extraction (a new index) or another dataset table is another key."""
    from affectgpt.cluster.backend import training_data_dir, training_key

    config = tmp_path / "config.yaml"
    config.write_text("model: tiny\n")
    data = tmp_path / "dataset"
    data.mkdir()
    (data / "mer-caption.parquet").write_bytes(b"PAR1 table")
    (data / "manifest.json").write_text('{"step": "build_dataset"}')
    features = tmp_path / "features"
    (features / "packs").mkdir(parents=True)
    (features / "manifest.json").write_text('{"step": "extract_features"}')
    (features / "index.parquet").write_bytes(b"PAR1 index v1")
    pack = features / "packs" / "train-s000-p000.safetensors"
    pack.write_bytes(b"pack bytes")

    def key(view: str) -> str:
        return training_key(config, training_data_dir(data, features, tmp_path / view))

    first = key("v1")
    pack.write_bytes(b"other pack bytes of the same clips")  # never read
    assert key("v2") == first
    (features / "index.parquet").write_bytes(b"PAR1 index v2")
    assert key("v3") != first
    (features / "index.parquet").write_bytes(b"PAR1 index v1")
    (data / "mer-caption.parquet").write_bytes(b"PAR1 other table")
    assert key("v4") != first
