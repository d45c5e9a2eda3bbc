"""The registry against a real `mlflow server` process without authentication (decisions are
unauthenticated, as on sqlite): racing promotions (on a sqlite and on a PostgreSQL backend
store), a server that goes down (clear error, nothing written) and an audit log that survives
the restart."""

from __future__ import annotations

import threading

import pytest
from registry_testkit import FAST_RETRY, MlflowServer, audit_keys, log_training_run

from affectgpt.registry import (
    Refused,
    RegistryClient,
    RegistryUnavailable,
    approve,
    current_alias,
    promote,
    read_audit_copy,
    read_events,
    register_candidate,
)
from affectgpt.registry.connection import RetryPolicy
from affectgpt.registry.governance import verify_registry

pytestmark = pytest.mark.integration

SCORES = {"MER2023": 50.0, "MELD": 50.0, "SIMS": 50.0}


def _report(folder, level):
    import json
    import time

    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"report-{time.monotonic_ns()}.json"
    path.write_text(json.dumps({"units": "percent", "mode": "corrected",
                                "datasets": {name: {"value": level, "status": "scored"} for name in SCORES}}))
    return path


@pytest.fixture(scope="module")
def rules(tmp_path_factory):
    path = tmp_path_factory.mktemp("rules") / "promotion.yaml"
    path.write_text(
        "required_datasets: [MER2023, MELD, SIMS]\nmin_mean_improvement: 0.5\nmax_regression: 2.0\n"
        "require_authenticated: false\n"
    )
    return path


def _candidate(client, rules, model, level):
    import tempfile
    from pathlib import Path

    run_id = log_training_run(client.tracking_uri, "alice", experiment="train-server")
    result = register_candidate(
        run_id,
        model,
        _report(Path(tempfile.mkdtemp(prefix="affectgpt-test-report-")), level),
        data_rev=f"dvc-{level}",
        code_rev="c1",
        config_hash="h1",
        scorer_mode="corrected",
        promotion_config=rules,
        client=client,
        actor="alice",
    )
    assert result.verdict == "pass", result.reasons
    approve(model, result.version, reviewer="bob", comment="ok", client=client)
    return result.version


def test_two_concurrent_promotions_exactly_one_wins(server_on_each_store, rules):
    """Two promoters at once through one server (sqlite, then PostgreSQL, whose transactions
    really run side by side): one takes the alias lease and promotes, the other is refused, and
    the audit chain and its copy stay whole."""
    server = server_on_each_store
    server_client = RegistryClient(server.url, FAST_RETRY)
    v1 = _candidate(server_client, rules, "race", 50.0)
    promote("race", v1, actor="carol", client=server_client)
    contenders = [
        _candidate(server_client, rules, "race", 52.0),
        _candidate(server_client, rules, "race", 53.0),
    ]
    start = threading.Barrier(len(contenders))
    outcomes: dict[str, str] = {}

    def race(version: str) -> None:
        client = RegistryClient(server.url, server_client.retry)  # one client per promoter
        start.wait()
        try:
            promote("race", version, actor=f"promoter-{version}", client=client)
            outcomes[version] = "won"
        except Refused as error:
            outcomes[version] = f"refused: {error}"

    threads = [threading.Thread(target=race, args=(version,)) for version in contenders]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    winners = [version for version, outcome in outcomes.items() if outcome == "won"]
    assert len(outcomes) == 2 and len(winners) == 1, outcomes
    loser = next(version for version in contenders if version not in winners)
    assert "champion changed since the review (approved against v1" in outcomes[loser]
    assert current_alias(server_client, "race") == "2"  # the winner's copy in the production model
    assert current_alias(server_client, "race", "previous") == "1"
    events = read_events(server_client, "race")
    final = [(event.event, event.version, event.actor) for event in events if "promotion" in event.event][-2:]
    assert sorted(final) == sorted(
        [
            ("promotion", winners[0], f"promoter-{winners[0]}"),
            ("promotion_refused", loser, f"promoter-{loser}"),
        ]
    )
    assert read_audit_copy(server_client, "race") == events
    assert audit_keys(server_client, "race") == []  # the log has models of its own, not the production page
    assert verify_registry(server_client, "race").ok


def test_server_down_is_a_clear_error_and_the_log_survives_a_restart(server_client, rules, mlflow_server):
    v1 = _candidate(server_client, rules, "durable", 50.0)
    promote("durable", v1, actor="carol", client=server_client)
    v2 = _candidate(server_client, rules, "durable", 52.0)
    v2_run = server_client.mlflow.get_model_version("durable-candidates", v2).run_id
    events_before = read_events(server_client, "durable")

    mlflow_server.stop()
    down = RegistryClient(mlflow_server.url, RetryPolicy(attempts=3, first_delay_s=0.1))
    with pytest.raises(RegistryUnavailable, match=r"did not answer while trying to .*\(3 attempts"):
        promote("durable", v2, actor="carol", client=down)
    with pytest.raises(RegistryUnavailable, match="nothing was changed by this step"):
        register_candidate(
            v2_run,
            "durable-copy",
            _report(mlflow_server.root / "reports", 52.0),
            data_rev="d",
            code_rev="c",
            config_hash="h",
            scorer_mode="corrected",
            promotion_config=rules,
            client=down,
        )

    mlflow_server.start()
    client = RegistryClient(mlflow_server.url, server_client.retry)
    assert read_events(client, "durable") == events_before
    assert read_audit_copy(client, "durable") == events_before
    assert current_alias(client, "durable") == "1"
    names = {registered.name for registered in client.mlflow.search_registered_models()}
    assert not {"durable-copy", "durable-copy-candidates"} & names
    assert promote("durable", v2, actor="carol", client=client).champion == "2"
    assert [event.event for event in read_events(client, "durable")][-1] == "promotion"


def test_a_test_server_runs_the_gate_of_this_checkout(tmp_path):
    """The server process imports `affectgpt` (the gate app) from the checkout under test, not
    from the copy the environment was installed from (another work tree's, an older one)."""
    import os
    from pathlib import Path

    import affectgpt

    server = MlflowServer(tmp_path, auth=True)
    first = server.env["PYTHONPATH"].split(os.pathsep)[0]
    assert Path(first) == Path(affectgpt.__file__).resolve().parents[1] == Path(__file__).resolve().parents[2] / "src"
