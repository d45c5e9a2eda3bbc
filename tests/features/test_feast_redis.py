"""Feast with the cluster's stores: the Redis online store answers the rows the sqlite store
answers (apply, materialize, a later incremental materialize, online lookups), and the hourly
materialisation CronJob of infra/steps/feast-materialize.yaml runs here as the kubelet would run
it: its two command lines, its Secrets' values, its mounts (the ConfigMap's feature_store.yaml
over the workspace's tables), against a real Redis and a Feast registry in a real PostgreSQL."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa
import yaml
from testkit.pods import container_env, kubelet_argv

from affectgpt.features.definitions import DATA_SUBDIR, feature_refs
from affectgpt.features.repo import STORE_YAML, init_repo
from affectgpt.features.store import apply_definitions, materialize, online_features, write_feature_rows

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
MATERIALIZE_JOB = ROOT / "infra" / "steps" / "feast-materialize.yaml"
CLUSTER_REDIS = "redis.affectgpt.svc.cluster.local:6379"
T0 = datetime(2025, 3, 1, tzinfo=UTC)
END = T0 + timedelta(days=30)
CLIPS = ["clip_a", "clip_b", "clip_c"]
ASKED = [*CLIPS, "clip_never_seen"]


def _fill(repo: Path, day: int = 0) -> None:
    """Each view's rows for CLIPS at T0 + `day`: scalars, vectors, lists of strings, and nulls."""
    when = T0 + timedelta(days=day)
    rng = np.random.default_rng(day)
    metadata = pd.DataFrame([{"clip_id": clip, "event_timestamp": when, "duration_s": 1.5 + i + day, "fps": 25.0,
                              "face_ratio": 0.25 * i, "speech_ratio": None if i == 1 else 0.5,
                              "subtitle_len": 40 + i, "language": "en", "source": f"batch-{day}"}
                             for i, clip in enumerate(CLIPS)])
    embeddings = pd.DataFrame({
        "clip_id": CLIPS, "event_timestamp": [when] * 3,
        **{name: [rng.normal(size=16).astype(np.float32) for _ in CLIPS] for name in ("frame_emb", "audio_emb")},
        "face_emb": [rng.normal(size=16).astype(np.float32), None, rng.normal(size=16).astype(np.float32)],
        "text_emb": [rng.normal(size=384).astype(np.float32) for _ in CLIPS],
    })
    outputs = pd.DataFrame({"clip_id": CLIPS, "event_timestamp": [when] * 3,
                            "predicted_label": ["happy", "sad", None], "ov_labels": [["happy", "calm"], ["sad"], []],
                            "sentiment": ["positive", "negative", "neutral"], "description_len": [12, 7, 0],
                            "model_version": [f"v{day}"] * 3})
    for view, rows in (("clip_metadata", metadata), ("clip_embeddings", embeddings), ("model_outputs", outputs)):
        assert not write_feature_rows(view, rows, repo).skipped


def _answer(repo: Path) -> list[dict]:
    """The online rows of ASKED as plain values: vectors as lists, every kind of null as None."""
    frame = online_features(ASKED, feature_refs(), repo)
    assert frame["clip_id"].tolist() == ASKED
    return [{name: _plain(value) for name, value in row.items()} for row in frame.to_dict(orient="records")]


def _plain(value):
    if isinstance(value, (list, tuple, np.ndarray)):
        return [_plain(item) for item in value]
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return None
    return value.item() if hasattr(value, "item") else value


@pytest.fixture(scope="module")
def sqlite_answers(tmp_path_factory) -> dict[str, list[dict]]:
    """What the sqlite online store answers after the day-0 rows and after the day-35 rows
    (each materialized incrementally, the second time from the first run's end): the answers
    Redis must give."""
    repo = init_repo(tmp_path_factory.mktemp("sqlite-online"))
    apply_definitions(repo)
    _fill(repo, day=0)
    materialize(repo, end=END)
    first = _answer(repo)
    _fill(repo, day=35)
    materialize(repo, end=END + timedelta(days=10))
    return {"day 0": first, "day 35": _answer(repo)}


def test_redis_answers_the_rows_the_sqlite_store_answers(redis_store, sqlite_answers, tmp_path):
    repo = init_repo(tmp_path / "repo", online_store="redis", redis_connection=redis_store.connection_string)
    assert yaml.safe_load((repo / STORE_YAML).read_text())["online_store"]["type"] == "redis"
    apply_definitions(repo)
    _fill(repo, day=0)
    materialize(repo, end=END)  # no start: incremental, the first time from the views' TTL
    assert redis_store.client().dbsize() > 0  # the rows are in Redis, not in a file
    assert not (repo / DATA_SUBDIR / "online_store.db").exists()
    assert _answer(repo) == sqlite_answers["day 0"]
    _fill(repo, day=35)
    materialize(repo, end=END + timedelta(days=10))  # from where the last run ended
    newest = _answer(repo)
    assert newest == sqlite_answers["day 35"]
    assert newest[0]["duration_s"] == 36.5 and newest[0]["model_version"] == "v35"


def _lay_out_mounts(pod: dict, container: dict, config_maps: dict[str, dict], volume_root: Path, root: Path) -> None:
    """`container`'s mounts under `root`, the pod's filesystem here: ConfigMap keys written, the
    data claim's subPath linked to `volume_root`, emptyDirs made."""
    volumes = {volume["name"]: volume for volume in pod["volumes"]}
    for mount in container["volumeMounts"]:
        here = root / mount["mountPath"].lstrip("/")
        here.parent.mkdir(parents=True, exist_ok=True)
        volume = volumes[mount["name"]]
        if "configMap" in volume:
            here.write_text(config_maps[volume["configMap"]["name"]][mount["subPath"]])
        elif "persistentVolumeClaim" in volume:
            assert volume["persistentVolumeClaim"]["claimName"] == "affectgpt-data"
            if not here.exists():
                here.symlink_to(volume_root / mount.get("subPath", ""), target_is_directory=True)
        else:
            assert "emptyDir" in volume
            here.mkdir(exist_ok=True)


def _local(text: str, root: Path) -> str:
    """An absolute path of the pod's filesystem as the path under `root` (other text unchanged)."""
    return str(root / text.lstrip("/")) if text.startswith("/") and (root / text.lstrip("/")).exists() else text


def test_the_materialize_cronjob_runs_here_against_redis_and_a_postgres_registry(
        redis_store, postgres_database, sqlite_answers, tmp_path, killkit, monkeypatch):
    config_map, cronjob = yaml.safe_load_all(MATERIALIZE_JOB.read_text())
    store_yaml = config_map["data"][STORE_YAML]
    # The one change: the test's Redis for the cluster's service name (no cluster DNS here).
    assert store_yaml.count(CLUSTER_REDIS) == 1
    config_maps = {config_map["metadata"]["name"]: {STORE_YAML: store_yaml.replace(
        CLUSTER_REDIS, f"127.0.0.1:{redis_store.port}")}}
    secrets = {("feast-redis", "password"): redis_store.password, ("feast-registry", "uri"): postgres_database}
    # The data volume as the pipeline leaves it: the workspace's feature repo, tables ingested.
    volume = tmp_path / "data-volume"
    _fill(init_repo(volume / ".affectgpt" / "feature_repo"), day=0)
    on_the_volume = killkit.snapshot(volume)

    pod = cronjob["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    ran = []
    for container in pod["initContainers"] + pod["containers"]:  # in order, as the kubelet starts them
        root = tmp_path / "pod"
        _lay_out_mounts(pod, container, config_maps, volume, root)
        env = {name: _local(value, root) for name, value in container_env(container, secrets).items()}
        argv = [_local(part, root) for part in kubelet_argv(container, env)]
        assert argv[0] == "affectgpt"
        done = killkit.run(argv[1:], env=env, timeout=300)
        assert done.returncode == 0, f"{container['name']}: {done.stdout}\n{done.stderr[-3000:]}"
        ran.append(argv[1:3])
    assert ran == [["features", "apply"], ["features", "materialize"]]
    assert killkit.snapshot(volume) == on_the_volume  # its mount is read-only: nothing written there
    assert redis_store.client().dbsize() > 0
    engine = sa.create_engine(postgres_database)
    try:
        assert {"feature_views", "entities"} <= set(sa.inspect(engine).get_table_names())  # Feast's SQL registry
    finally:
        engine.dispose()

    # What the online feature server reads: the same feature_store.yaml, so the same registry
    # (PostgreSQL) and the same Redis, with the same environment.
    monkeypatch.setenv("REDIS_PASSWORD", redis_store.password)
    monkeypatch.setenv("FEAST_REGISTRY_URI", postgres_database)
    assert _answer(tmp_path / "pod" / "feast") == sqlite_answers["day 0"]
