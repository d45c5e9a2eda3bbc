"""The registry on the embedded sqlite store (the local demo): register, review, approval by a
claimed (unauthenticated) name, promotion, rollback, refusals and the audit log, through the
library and the CLI. Decisions here are marked unauthenticated: demo rules allow them, the
production rules (`require_authenticated: true`) refuse them."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from registry_testkit import FAST_RETRY, log_training_run

from affectgpt.registry import (
    NotFound,
    Refused,
    RegistryClient,
    RegistryUnavailable,
    approve,
    current_alias,
    init_registry,
    promote,
    read_audit_copy,
    read_events,
    register_candidate,
    reject,
    review_version,
    rollback,
    verify_registry,
)
from affectgpt.registry.records import candidates_name

DATASETS = ["MER2023", "MELD", "OV-MERD+"]
LOCAL_RULES = (
    "required_datasets: [MER2023, MELD, OV-MERD+]\nmin_mean_improvement: 0.5\nmax_regression: 2.0\n"
    "min_scores: {MER2023: 30.0}\nmin_mean: 20.0\nrequire_authenticated: false\n"
)


@pytest.fixture(scope="module")
def rules(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("rules") / "promotion.yaml"
    path.write_text(LOCAL_RULES)
    return path


def _report(folder: Path, scores: dict[str, float], mode: str = "corrected") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"report-{time.monotonic_ns()}.json"
    path.write_text(json.dumps({"units": "percent", "mode": mode, "datasets": {
        name: {"value": value, "status": "scored"} for name, value in scores.items()}}))
    return path


def _register(client, rules, model, author, level, emotion="happy", **overrides):
    run_id = log_training_run(client.tracking_uri, author, emotion)
    scores = {name: level for name in DATASETS} | overrides
    return register_candidate(run_id, model, _report(Path(client.tracking_uri[10:]).parent / "reports", scores),
                              data_rev=f"dvc-{level}", code_rev="abc123", config_hash="cfg1",
                              scorer_mode="corrected", promotion_config=rules, client=client, actor=author)


def test_register_is_idempotent_and_records_lineage_and_evidence(sqlite_client, rules):
    first = _register(sqlite_client, rules, "idem", "alice", 50.0)
    assert first.created and first.verdict == "pass" and first.version == "1" and first.author == "alice"
    again = register_candidate(first.run_id, "idem", {"MER2023": 99.0}, data_rev="other", code_rev="x",
                               config_hash="y", scorer_mode="corrected", client=sqlite_client)
    assert (again.version, again.created, again.verdict) == ("1", False, "pass")
    tags = sqlite_client.mlflow.get_model_version(candidates_name("idem"), "1").tags
    assert tags["affectgpt.data_rev"] == "dvc-50.0" and tags["affectgpt.code_rev"] == "abc123"
    # The UI's tag list: what a person filters on, plus one compact machine tag.
    assert set(tags) == {"affectgpt.state", "affectgpt.gate.verdict", "affectgpt.data_rev", "affectgpt.code_rev"}
    assert tags["affectgpt.gate.verdict"] == "pass"
    state = json.loads(tags["affectgpt.state"])
    assert state["gate"]["verdict"] == "pass" and state["rules"]["max_regression"] == 2.0
    record = state["registration"]
    assert record["scores"]["OV-MERD+"] == 50.0
    assert record["author"] == "alice" and record["authenticated"] is False and len(record["report_sha256"]) == 64
    assert record["report_artifact"] == "affectgpt-bench/report.json" and record["manual"] is False
    events = read_events(sqlite_client, "idem")
    assert [event.event for event in events] == ["init", "register"]
    assert not any(event.authenticated for event in events)
    assert verify_registry(sqlite_client, "idem").ok


def test_local_flow_review_approve_promote_rollback(sqlite_client, rules, tmp_path):
    import mlflow.pyfunc

    v1 = _register(sqlite_client, rules, "flow", "alice", 50.0, "neutral")
    with pytest.raises(Refused, match="alice is its author and may not review it"):
        approve("flow", v1.version, reviewer=" Alice ", comment="mine", client=sqlite_client)
    approve("flow", v1.version, reviewer="bob", comment="first model", client=sqlite_client)
    assert promote("flow", v1.version, actor="carol", client=sqlite_client).champion == "1"

    v2 = _register(sqlite_client, rules, "flow", "alice", 53.0, "happy", MELD=51.5)
    assert v2.verdict == "pass" and v2.champion_version == "1"
    review = review_version("flow", v2.version, out_dir=tmp_path, reviewer="bob", client=sqlite_client)
    assert review.champion.version == "1" and review.gate.verdict == "pass"
    assert {row[0]: row[3] for row in review.rows()} == {"MELD": 1.5, "MER2023": 3.0, "OV-MERD+": 3.0}
    page = review.report_path.read_text()
    assert "dvc-53.0" in page and "champion v1" in page
    chart = page.split('<figure class="chart" aria-label="candidate vs champion per dataset">')[1]
    assert chart.startswith("<svg") and ">candidate v2<" in chart  # the chart, inline: the page stands alone
    decision = approve("flow", v2.version, reviewer="bob", comment="better on all", client=sqlite_client)
    assert decision.authenticated is False
    change = promote("flow", v2.version, actor="carol", client=sqlite_client)
    assert (change.champion, change.previous, change.candidate) == ("2", "1", v2.version)
    served = mlflow.pyfunc.load_model("models:/flow@champion")
    assert list(served.predict(["clip-a", "clip-b"])) == ["happy", "happy"]

    back = rollback("flow", actor="carol", reason="MELD complaints", client=sqlite_client)
    assert (back.champion, back.previous) == ("1", None)
    assert current_alias(sqlite_client, "flow") == "1"
    with pytest.raises(Refused, match="approval was revoked"):
        promote("flow", v2.version, actor="carol", client=sqlite_client)
    with pytest.raises(Refused, match="no previous champion"):
        rollback("flow", actor="carol", client=sqlite_client)
    events = read_events(sqlite_client, "flow")
    assert [event.event for event in events] == [
        "init", "register", "approval_refused", "approval", "promotion", "register", "review", "approval",
        "promotion", "rollback", "promotion_refused", "rollback_refused",
    ]
    assert events[3].actor == "bob" and events[3].details["comment"] == "first model"
    assert events[8].details["from"] == "1" and events[8].details["approved_by"] == "bob"
    assert read_audit_copy(sqlite_client, "flow") == events
    assert verify_registry(sqlite_client, "flow").ok


def test_production_rules_refuse_unauthenticated_decisions(sqlite_client, tmp_path):
    strict = tmp_path / "strict.yaml"
    strict.write_text(LOCAL_RULES.replace("require_authenticated: false", "require_authenticated: true"))
    v1 = _register(sqlite_client, strict, "strict", "alice", 50.0)
    approve("strict", v1.version, reviewer="bob", comment="ok", client=sqlite_client)
    with pytest.raises(Refused, match=r"registration was not authenticated .*\(require_authenticated\)"):
        promote("strict", v1.version, actor="carol", client=sqlite_client)


def test_refusals_name_the_rule(sqlite_client, rules):
    good = _register(sqlite_client, rules, "refuse", "alice", 50.0)
    with pytest.raises(Refused, match="has no approval in the audit log; a reviewer other than its author"):
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
    with pytest.raises(Refused, match="gate verdict .* is 'fail': MER2023 10.00 is below the minimum 30.00"):
        promote("refuse", failing.version, actor="carol", client=sqlite_client)
    with pytest.raises(NotFound, match="model 'nope-candidates' is not in the registry"):
        promote("nope", "1", client=sqlite_client)
    with pytest.raises(NotFound, match="model 'refuse' has no candidate version 42"):
        approve("refuse", "42", reviewer="bob", comment="x", client=sqlite_client)
    with pytest.raises(NotFound, match="run 0+ not found"):
        register_candidate("0" * 32, "refuse", {"MELD": 1.0}, data_rev="d", code_rev="c", config_hash="h",
                           scorer_mode="corrected", client=sqlite_client)
    assert current_alias(sqlite_client, "refuse") is None
    refused = [event for event in read_events(sqlite_client, "refuse") if event.event.endswith("_refused")]
    assert [(event.event, event.version) for event in refused] == [
        ("promotion_refused", "1"),
        ("approval_refused", "2"),
        ("promotion_refused", "2"),
        ("promotion_refused", "3"),
    ]


def test_champion_changed_since_review_is_refused_until_approved_again(sqlite_client, rules):
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
    approve("cas", v3.version, reviewer="bob", comment="beats v2 too", client=sqlite_client)
    assert promote("cas", v3.version, client=sqlite_client).champion_before == "2"


def test_plain_mlflow_version_and_typed_scores_are_never_promoted(sqlite_client, rules, tmp_path):
    import mlflow

    init_registry("plain", pipeline_user=None, reviewers=[], rules_path=rules, client=sqlite_client)
    run_id = log_training_run(sqlite_client.tracking_uri, "frank")
    mlflow.set_tracking_uri(sqlite_client.tracking_uri)
    plain = mlflow.register_model(f"runs:/{run_id}/model", candidates_name("plain"))
    review = review_version("plain", plain.version, out_dir=tmp_path, client=sqlite_client)
    assert review.gate.verdict == "no_scores" and review.report_path.is_file()
    with pytest.raises(Refused, match="author is unknown"):
        approve("plain", plain.version, reviewer="gina", comment="fine by me", client=sqlite_client)
    with pytest.raises(Refused, match="has no approval"):
        promote("plain", plain.version, client=sqlite_client)
    typed = register_candidate(log_training_run(sqlite_client.tracking_uri, "frank"), "plain",
                               {name: 90.0 for name in DATASETS}, data_rev="d", code_rev="c", config_hash="h",
                               scorer_mode="corrected", client=sqlite_client, actor="frank")
    assert typed.manual and typed.verdict == "fail"
    approve("plain", typed.version, reviewer="gina", comment="trust me", client=sqlite_client)
    with pytest.raises(Refused, match="typed by hand"):
        promote("plain", typed.version, client=sqlite_client)


def test_failed_champion_write_restores_aliases_and_logs_the_failure(sqlite_uri, rules):
    """The server dies between the `previous` and the `champion` writes: both are put back."""
    client = RegistryClient(sqlite_uri, FAST_RETRY)
    v1 = _register(client, rules, "fault", "alice", 50.0)
    approve("fault", v1.version, reviewer="bob", comment="ok", client=client)
    promote("fault", v1.version, client=client)
    v2 = _register(client, rules, "fault", "alice", 52.0)
    approve("fault", v2.version, reviewer="bob", comment="ok", client=client)
    real_set_alias = client.mlflow.set_registered_model_alias

    champion_writes = []

    def set_alias_server_gone(name, alias, version):
        if alias == "champion":
            champion_writes.append(version)
            raise ConnectionError("Connection refused")
        return real_set_alias(name, alias, version)

    client.mlflow.set_registered_model_alias = set_alias_server_gone
    with pytest.raises(RegistryUnavailable, match="did not answer while trying to set fault@champion") as raised:
        promote("fault", v2.version, client=client)
    assert isinstance(raised.value.__cause__, ConnectionError)
    # The new champion write was retried as the policy says, then the old champion put back once.
    assert champion_writes == [champion_writes[0]] * FAST_RETRY.attempts + ["1"] and champion_writes[0] != "1"
    client.mlflow.set_registered_model_alias = real_set_alias
    assert current_alias(client, "fault") == "1" and current_alias(client, "fault", "previous") is None
    assert read_events(client, "fault")[-1].event == "promotion_failed"
    assert verify_registry(client, "fault").ok
    assert promote("fault", v2.version, client=client).champion == "3"  # the lease was released


def test_cli_speaks_in_one_line_and_exit_codes(sqlite_uri, rules, tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from affectgpt.cli import app

    monkeypatch.setenv("MLFLOW_TRACKING_URI", sqlite_uri)
    monkeypatch.setenv("AFFECTGPT_REGISTRY_RETRIES", "1")
    monkeypatch.setenv("AFFECTGPT_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("AFFECTGPT_ACTOR", "alice")
    runner = CliRunner()
    run_id = log_training_run(sqlite_uri, "alice")
    base = ["registry", "register", "--run-id", run_id, "--model", "cli", "--data-rev", "d1", "--code-rev", "c1",
            "--config-hash", "h1", "--promotion-config", str(rules)]
    report = _report(tmp_path, {name: 55.0 for name in DATASETS})
    result = runner.invoke(app, [*base, "--scores", str(report), "--json"])
    assert result.exit_code == 0, result.output + str(result.exception)
    assert json.loads(result.stdout)["version"] == "1"
    assert "already registered as version 1" in runner.invoke(app, [*base, "--scores", str(report)]).output
    bad = runner.invoke(app, [*base, "--score", "MELD=high"])
    assert bad.exit_code == 2 and "'high' is not a number" in bad.output
    own = runner.invoke(app, ["registry", "approve", "-m", "cli", "--version", "1", "--comment", "x"])
    assert own.exit_code == 3 and "four-eyes" in own.output and "Traceback" not in own.output
    missing = runner.invoke(app, ["registry", "promote", "-m", "ghost", "--version", "1"])
    assert missing.exit_code == 4 and "model 'ghost-candidates' is not in the registry" in missing.output
    review = runner.invoke(app, ["registry", "review", "-m", "cli", "--version", "1", "--out", str(tmp_path),
                                 "--actor", "bob"])
    assert review.exit_code == 0 and "MER2023" in review.output and "lineage: run" in review.output
    assert (tmp_path / "cli-v1-review.html").is_file()
    approved = runner.invoke(app, ["registry", "approve", "-m", "cli", "--version", "1", "--reviewer", "bob",
                                   "--comment", "ok"])
    assert approved.exit_code == 0 and "approved by bob (unauthenticated)" in approved.output
    promoted = runner.invoke(app, ["registry", "promote", "-m", "cli", "--version", "1", "--actor", "carol"])
    assert promoted.exit_code == 0 and "cli@champion: none -> v1" in promoted.output
    for failed in (bad, own, missing):  # each refusal is one line, never a traceback or a usage box
        assert len(failed.output.strip().splitlines()) == 1 and "Traceback" not in failed.output, failed.output
    verified = runner.invoke(app, ["registry", "verify", "-m", "cli"])
    assert verified.exit_code == 0 and "chain intact" in verified.output
    history = runner.invoke(app, ["registry", "history", "-m", "cli", "--json"])
    lines = [json.loads(line) for line in history.stdout.splitlines()]
    assert [line["event"] for line in lines] == ["init", "register", "approval_refused", "review", "approval",
                                                 "promotion"]
    assert lines[-1]["actor"] == "carol" and lines[-1]["authenticated"] is False


def test_history_prints_every_hash_whole_on_an_80_column_terminal(sqlite_client, rules, monkeypatch):
    """A run id or a sha256 folded across lines of a narrow table column cannot be pasted into
    `mlflow` or compared by eye: each is whole on one line."""
    from typer.testing import CliRunner

    from affectgpt.cli import app

    init_registry("hashes", pipeline_user=None, reviewers=["bob"], rules_path=rules, client=sqlite_client)
    _register(sqlite_client, rules, "hashes", "alice", 50.0)
    monkeypatch.setenv("COLUMNS", "80")
    monkeypatch.setenv("AFFECTGPT_ACTOR", "alice")
    result = CliRunner().invoke(app, ["registry", "history", "-m", "hashes", "--tracking-uri",
                                      sqlite_client.tracking_uri])
    assert result.exit_code == 0, result.output
    events = read_events(sqlite_client, "hashes")
    hashes = [str(event.details[key]) for event in events for key in ("run_id", "rules_hash")
              if event.details.get(key)] + [event.hash for event in events]
    assert len(hashes) >= 4 and any(len(value) == 32 for value in hashes)  # event sha256s, a run id, the rules hash
    lines = result.stdout.splitlines()
    for value in hashes:
        assert any(value in line for line in lines), (value, result.stdout)
