"""The registry workflow on the embedded sqlite store: register, gate, review, four-eyes
approval, promotion, rollback, refusals and the audit log, through the library and the CLI."""

from __future__ import annotations

import base64
import json

import pytest
from registry_testkit import FAST_RETRY, log_training_run

from affectgpt.registry import (
    NotFound,
    Refused,
    RegistryClient,
    approve,
    current_alias,
    load_version,
    promote,
    read_audit_artifact,
    read_events,
    register_candidate,
    reject,
    review_version,
    rollback,
)

DATASETS = ["MER2023", "MELD", "OV-MERD+"]


@pytest.fixture(scope="module")
def rules(tmp_path_factory):
    path = tmp_path_factory.mktemp("rules") / "promotion.yaml"
    path.write_text(
        "required_datasets: [MER2023, MELD, OV-MERD+]\n"
        "min_mean_improvement: 0.5\nmax_regression: 2.0\nmin_scores: {MER2023: 30.0}\nmin_mean: 20.0\n"
    )
    return path


def _register(client, rules, model, author, level, emotion="happy", **overrides):
    run_id = log_training_run(client.tracking_uri, author, emotion)
    scores = {name: level for name in DATASETS} | overrides
    return register_candidate(
        run_id,
        model,
        scores,
        data_rev=f"dvc-{level}",
        code_rev="abc123",
        config_hash="cfg1",
        scorer_mode="corrected",
        promotion_config=rules,
        client=client,
        actor="pipeline",
    )


def test_register_is_idempotent_and_records_lineage(sqlite_client, rules):
    first = _register(sqlite_client, rules, "idem", "alice", 50.0)
    assert first.created and first.verdict == "pass" and first.version == "1"
    again = register_candidate(
        first.run_id,
        "idem",
        {"MER2023": 99.0},
        data_rev="other",
        code_rev="x",
        config_hash="y",
        scorer_mode="corrected",
        promotion_config=rules,
        client=sqlite_client,
    )
    assert (again.version, again.created, again.verdict) == ("1", False, "pass")
    tags = sqlite_client.mlflow.get_model_version("idem", "1").tags
    assert tags["affectgpt.data_rev"] == "dvc-50.0" and tags["affectgpt.code_rev"] == "abc123"
    assert tags["affectgpt.config_hash"] == "cfg1" and tags["affectgpt.scorer_mode"] == "corrected"
    assert (
        tags["affectgpt.score.OV-MERD_"] == "50" and json.loads(tags["affectgpt.scores"])["OV-MERD+"] == 50.0
    )
    assert tags["affectgpt.gate.verdict"] == "pass" and tags["affectgpt.author"] == "alice"
    assert len(sqlite_client.mlflow.search_model_versions("name = 'idem'")) == 1
    assert [event.event for event in read_events(sqlite_client, "idem")] == ["register", "verdict"]


def test_promotion_flow_review_rollback_and_audit(sqlite_client, rules, tmp_path):
    import mlflow.pyfunc

    v1 = _register(sqlite_client, rules, "flow", "alice", 50.0, "neutral")
    with pytest.raises(Refused, match="reviewer Alice is its author \\(alice, mlflow.user of run"):
        approve("flow", v1.version, reviewer=" Alice ", comment="mine", client=sqlite_client)
    approve("flow", v1.version, reviewer="bob", comment="first model", client=sqlite_client)
    assert promote("flow", v1.version, actor="carol", client=sqlite_client).champion == "1"

    v2 = _register(sqlite_client, rules, "flow", "alice", 53.0, "happy", MELD=51.5)
    assert v2.verdict == "pass" and v2.champion_version == "1"
    review = review_version("flow", v2.version, out_dir=tmp_path, reviewer="bob", client=sqlite_client)
    assert review.champion.version == "1" and not review.verdict_changed
    assert {row[0]: row[3] for row in review.rows()} == {"MELD": 1.5, "MER2023": 3.0, "OV-MERD+": 3.0}
    page = review.report_path.read_text()
    assert (
        "data:image/png;base64," in page
        and "dvc-53.0" in page
        and "champion v1" in review.report_path.read_text()
    )
    embedded = page.split("data:image/png;base64,")[1].split('"')[0]
    assert base64.b64decode(embedded)[:8] == b"\x89PNG\r\n\x1a\n"
    approve("flow", v2.version, reviewer="bob", comment="better on all", client=sqlite_client)
    change = promote("flow", v2.version, actor="carol", client=sqlite_client)
    assert (change.champion, change.previous) == ("2", "1")
    assert (current_alias(sqlite_client, "flow"), current_alias(sqlite_client, "flow", "previous")) == (
        "2",
        "1",
    )
    served = mlflow.pyfunc.load_model("models:/flow@champion")
    assert list(served.predict(["clip-a", "clip-b"])) == ["happy", "happy"]

    back = rollback("flow", actor="carol", reason="MELD complaints", client=sqlite_client)
    assert (back.champion, back.previous) == ("1", None)
    assert current_alias(sqlite_client, "flow", "previous") is None
    assert load_version(sqlite_client, "flow", "2").approval_status == "revoked"
    with pytest.raises(Refused, match="approval was revoked"):
        promote("flow", "2", actor="carol", client=sqlite_client)
    with pytest.raises(Refused, match="no previous champion"):
        rollback("flow", actor="carol", client=sqlite_client)

    events = read_events(sqlite_client, "flow")
    assert [(event.event, event.version) for event in events] == [
        ("register", "1"),
        ("verdict", "1"),
        ("approval_refused", "1"),
        ("approval", "1"),
        ("promotion", "1"),
        ("register", "2"),
        ("verdict", "2"),
        ("approval", "2"),
        ("promotion", "2"),
        ("rollback", "1"),
        ("promotion_refused", "2"),
        ("rollback_refused", "1"),
    ]
    assert events[3].actor == "bob" and events[3].details["comment"] == "first model"
    assert events[8].details["from"] == "1" and events[8].details["approved_by"] == "bob"
    assert read_audit_artifact(sqlite_client, "flow") == events


def test_refusals_name_the_rule(sqlite_client, rules):
    good = _register(sqlite_client, rules, "refuse", "alice", 50.0)
    with pytest.raises(Refused, match="has no approval; a reviewer other than its author"):
        promote("refuse", good.version, actor="carol", client=sqlite_client)
    rejected = _register(sqlite_client, rules, "refuse", "alice", 60.0)
    reject("refuse", rejected.version, reviewer="bob", comment="overfits MELD", client=sqlite_client)
    with pytest.raises(Refused, match="was rejected by bob; a rejection is final"):
        approve("refuse", rejected.version, reviewer="dave", comment="looks fine", client=sqlite_client)
    with pytest.raises(Refused, match="was rejected by bob; it cannot be promoted"):
        promote("refuse", rejected.version, actor="carol", client=sqlite_client)
    failing = _register(sqlite_client, rules, "refuse", "alice", 50.0, MER2023=10.0)
    assert failing.verdict == "fail"
    approve("refuse", failing.version, reviewer="bob", comment="let us see", client=sqlite_client)
    with pytest.raises(Refused, match="gate verdict is 'fail': MER2023 10.00 is below the minimum 30.00"):
        promote("refuse", failing.version, actor="carol", client=sqlite_client)
    with pytest.raises(NotFound, match="model 'nope' is not in the registry"):
        promote("nope", "1", client=sqlite_client)
    with pytest.raises(NotFound, match="model 'refuse' has no version 42"):
        approve("refuse", "42", reviewer="bob", comment="x", client=sqlite_client)
    with pytest.raises(NotFound, match="run 0+ not found"):
        register_candidate(
            "0" * 32,
            "refuse",
            {"MELD": 1.0},
            data_rev="d",
            code_rev="c",
            config_hash="h",
            scorer_mode="corrected",
            promotion_config=rules,
            client=sqlite_client,
        )
    assert current_alias(sqlite_client, "refuse") is None
    refused = [event for event in read_events(sqlite_client, "refuse") if event.event.endswith("_refused")]
    assert [(event.event, event.version) for event in refused] == [
        ("promotion_refused", "1"),
        ("approval_refused", "2"),
        ("promotion_refused", "2"),
        ("promotion_refused", "3"),
    ]


def test_champion_changed_since_review_is_refused_then_rereviewed(sqlite_client, rules, tmp_path):
    v1 = _register(sqlite_client, rules, "cas", "alice", 50.0)
    approve("cas", v1.version, reviewer="bob", comment="ok", client=sqlite_client)
    promote("cas", v1.version, client=sqlite_client)
    v2 = _register(sqlite_client, rules, "cas", "alice", 52.0)
    v3 = _register(sqlite_client, rules, "cas", "erin", 54.0)
    approve("cas", v2.version, reviewer="bob", comment="ok", client=sqlite_client)
    approve("cas", v3.version, reviewer="bob", comment="ok", client=sqlite_client)
    promote("cas", v2.version, client=sqlite_client)
    with pytest.raises(Refused, match=r"champion changed since the review \(approved against v1, now v2\)"):
        promote("cas", v3.version, client=sqlite_client)
    with pytest.raises(Refused, match="judged against champion v1 but the champion is now v2"):
        approve("cas", v3.version, reviewer="bob", comment="again", client=sqlite_client)
    review = review_version("cas", v3.version, out_dir=tmp_path, client=sqlite_client)
    assert review.verdict_changed and review.gate.champion_version == "2" and review.gate.verdict == "pass"
    approve("cas", v3.version, reviewer="bob", comment="beats v2 too", client=sqlite_client)
    assert promote("cas", v3.version, client=sqlite_client).champion_before == "2"


def test_plain_mlflow_version_can_be_reviewed_and_approved_but_not_promoted(sqlite_client, tmp_path):
    import mlflow

    run_id = log_training_run(sqlite_client.tracking_uri, "frank")
    mlflow.set_tracking_uri(sqlite_client.tracking_uri)
    plain = mlflow.register_model(f"runs:/{run_id}/model", "plain")
    review = review_version("plain", plain.version, out_dir=tmp_path, client=sqlite_client)
    assert review.gate.verdict == "no_scores" and review.report_path.is_file()
    approve("plain", plain.version, reviewer="gina", comment="fine by me", client=sqlite_client)
    with pytest.raises(Refused, match="gate verdict is 'no scores'"):
        promote("plain", plain.version, client=sqlite_client)


def test_failed_champion_write_restores_aliases_and_logs_nothing(sqlite_uri, rules):
    """The server dies between the `previous` and the `champion` writes: both are put back."""
    client = RegistryClient(sqlite_uri, FAST_RETRY)
    v1 = _register(client, rules, "fault", "alice", 50.0)
    approve("fault", v1.version, reviewer="bob", comment="ok", client=client)
    promote("fault", v1.version, client=client)
    v2 = _register(client, rules, "fault", "alice", 52.0)
    approve("fault", v2.version, reviewer="bob", comment="ok", client=client)
    events_before = read_events(client, "fault")
    real_set_alias = client.mlflow.set_registered_model_alias

    def set_alias_server_gone(name, alias, version):
        if alias == "champion":
            raise ConnectionError("Connection refused")
        return real_set_alias(name, alias, version)

    client.mlflow.set_registered_model_alias = set_alias_server_gone
    with pytest.raises(Exception, match="did not answer while trying to set fault@champion"):
        promote("fault", v2.version, client=client)
    client.mlflow.set_registered_model_alias = real_set_alias
    assert current_alias(client, "fault") == "1" and current_alias(client, "fault", "previous") is None
    assert read_events(client, "fault") == events_before
    assert promote("fault", v2.version, client=client).champion == "2"  # the lease was released


def test_cli_speaks_in_one_line_and_exit_codes(sqlite_uri, rules, tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from affectgpt.cli import app

    monkeypatch.setenv("MLFLOW_TRACKING_URI", sqlite_uri)
    monkeypatch.setenv("AFFECTGPT_REGISTRY_RETRIES", "1")
    monkeypatch.setenv("AFFECTGPT_HOME", str(tmp_path / "home"))
    runner = CliRunner()
    run_id = log_training_run(sqlite_uri, "alice")
    base = [
        "registry",
        "register",
        "--run-id",
        run_id,
        "--model",
        "cli",
        "--data-rev",
        "d1",
        "--code-rev",
        "c1",
        "--config-hash",
        "h1",
        "--scorer-mode",
        "corrected",
        "--promotion-config",
        str(rules),
    ]
    scores = [arg for name in DATASETS for arg in ("--score", f"{name}=55")]
    result = runner.invoke(app, base + scores)
    assert result.exit_code == 0, result.output
    assert "registered version 1" in result.output and "gate: pass" in result.output
    assert "already registered as version 1" in runner.invoke(app, base + scores).output
    bad = runner.invoke(app, base + ["--score", "MELD=high"])
    assert bad.exit_code == 2 and "'high' is not a number" in bad.output
    own = runner.invoke(
        app, ["registry", "approve", "-m", "cli", "-v", "1", "--reviewer", "alice", "--comment", "x"]
    )
    assert own.exit_code == 3 and "four-eyes" in own.output and "Traceback" not in own.output
    assert len(own.output.strip().splitlines()) == 1 or own.output.count("error:") == 1
    missing = runner.invoke(app, ["registry", "promote", "-m", "ghost", "-v", "1"])
    assert missing.exit_code == 4 and "model 'ghost' is not in the registry" in missing.output
    review = runner.invoke(app, ["registry", "review", "-m", "cli", "-v", "1", "--out", str(tmp_path)])
    assert review.exit_code == 0 and "MER2023" in review.output and "lineage: run" in review.output
    assert (tmp_path / "cli-v1-review.html").is_file()
    assert (
        runner.invoke(
            app, ["registry", "approve", "-m", "cli", "-v", "1", "--reviewer", "bob", "--comment", "ok"]
        ).exit_code
        == 0
    )
    promoted = runner.invoke(app, ["registry", "promote", "-m", "cli", "-v", "1", "--actor", "carol"])
    assert promoted.exit_code == 0 and "cli@champion: none -> v1" in promoted.output
    history = runner.invoke(app, ["registry", "history", "-m", "cli", "--json"])
    lines = [json.loads(line) for line in history.output.splitlines()]
    assert [line["event"] for line in lines] == [
        "register",
        "verdict",
        "approval_refused",
        "approval",
        "promotion",
    ]
    assert lines[-1]["actor"] == "carol"
