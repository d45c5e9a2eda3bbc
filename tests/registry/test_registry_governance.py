"""The registry against a real `mlflow server --app-name affectgpt-gate` (MLflow's basic-auth app
plus the registry gate) with users made here: admin, the pipeline identity, reviewers bob and
carol, author alice, and mallory with the server's default READ. The honest flow works as users
know it; every write outside the gate is refused by the server up front (HTTP 403), and what
only an admin can damage an admin can repair, on the record. The attacks of docs/registry.md's
threat model are in test_registry_attacks.py."""

from __future__ import annotations

import json

import pytest
from registry_testkit import (
    acting,
    audit_keys,
    bench_report,
    forbidden,
    init_governed,
    lay_out_the_old_way,
    log_training_run,
    pipeline_registers,
)
from typer.testing import CliRunner

from affectgpt.cli import app
from affectgpt.registry import (
    InvalidInput,
    Refused,
    approve,
    promote,
    read_audit_copy,
    read_events,
    register_candidate,
    reject,
    rollback,
    unlock,
    verify_registry,
)
from affectgpt.registry.audit import audit_copy_name, audit_key, audit_model_name
from affectgpt.registry.gate_store import OWNED_MODELS, GateStore
from affectgpt.registry.lock import EXPIRES_TAG, HOLDER_TAG, TICKET_SOURCE, TOKEN_TAG, lock_model_name
from affectgpt.registry.records import candidates_name

pytestmark = pytest.mark.integration


def _approved(server, model, tmp_path, level, reviewer="bob", **kwargs) -> str:
    version = pipeline_registers(server, model, tmp_path, level, **kwargs).version
    with acting(server, reviewer) as client:
        approve(model, version, comment="beats the champion", client=client)
    return version


def _problems(server, model) -> list[str]:
    with acting(server, "alice") as client:  # anyone may verify: it only reads
        return verify_registry(client, model).all_problems()


def test_honest_flow_register_review_approve_promote_roll_back_and_approve_again(gate_on_each_store, gate_rules, tmp_path):
    server = gate_on_each_store
    init_governed(server, gate_rules, "honest")
    first = pipeline_registers(server, "honest", tmp_path, 50.0)
    assert first.created and first.author == "alice" and first.verdict == "pass"
    with acting(server, "bob") as client:
        decision = approve("honest", first.version, comment="first model", client=client)
    assert decision.reviewer == "bob" and decision.authenticated
    with acting(server, "carol") as client:
        change = promote("honest", first.version, client=client)
    assert (change.champion, change.previous, change.candidate) == ("1", None, first.version)
    second = pipeline_registers(server, "honest", tmp_path, 53.0).version
    runner = CliRunner()
    with acting(server, "carol"):
        reviewed = runner.invoke(app, ["registry", "review", "-m", "honest", "--version", second,
                                       "--out", str(tmp_path / "review"), "--tracking-uri", server.url])
    assert reviewed.exit_code == 0, reviewed.output
    assert "gate: pass" in reviewed.output and "author alice" in reviewed.output
    with acting(server, "carol") as client:
        approve("honest", second, comment="better on both", client=client)
    with acting(server, "bob") as client:
        assert promote("honest", second, client=client).champion == "2"
        aliases = client.mlflow.get_registered_model("honest").aliases
        assert {k: str(v) for k, v in aliases.items()} == {"champion": "2", "previous": "1"}
        back = rollback("honest", reason="MELD complaints", client=client)
    assert (back.champion, back.previous) == ("1", None)
    with acting(server, "carol") as client, pytest.raises(Refused, match="approval was revoked"):
        promote("honest", second, client=client)  # the rolled-back candidate lost its approval
    with acting(server, "carol") as client:  # approved again, against the champion in place now
        approve("honest", second, comment="MELD fixed upstream", client=client)
    with acting(server, "bob") as client:
        assert promote("honest", second, client=client).champion == "3"
    assert _problems(server, "honest") == []
    with acting(server, "alice") as client:
        events = read_events(client, "honest")
        assert events == read_audit_copy(client, "honest")
        assert audit_keys(client, "honest") == []  # the production page carries no audit events
        assert audit_keys(client, audit_copy_name("honest")) == [audit_key(event.seq) for event in events]
    names = [event.event for event in events]
    assert names[0] == "init" and names.count("promotion") == 3 and "rollback" in names
    assert names.index("register") < names.index("review")  # logged at registration, by the gate
    assert all(event.authenticated for event in events)
    register = next(event for event in events if event.event == "register")
    assert register.details["author"] == "alice" and register.details["registered_by"] == "pipeline"
    assert register.details["registration"]["report_artifact"].startswith("affectgpt-gate:sha256/")


def test_identity_is_the_server_login_not_a_typed_name(gate_server, gate_rules, tmp_path):
    server = gate_server
    init_governed(server, gate_rules, "ident")
    version = pipeline_registers(server, "ident", tmp_path, 50.0, author="carol").version
    with acting(server, "carol") as client:  # the author, logged in as herself, types another name
        with pytest.raises(InvalidInput, match="authenticated as 'carol' but named 'bob'"):
            approve("ident", version, reviewer="bob", comment="lgtm", client=client)
        with pytest.raises(Refused, match="four-eyes"):  # and as herself: her own work
            approve("ident", version, comment="lgtm", client=client)
    with acting(server, "alice") as client:  # not a reviewer: the gate refuses, the server too
        with pytest.raises(Refused, match="not a reviewer"):
            approve("ident", version, comment="lgtm", client=client)
        forbidden(lambda: client.mlflow.set_registered_model_tag("ident", "affectgpt.approval.1", "approved"))
    with acting(server, "pipeline") as client, pytest.raises(Refused, match="not a reviewer"):
        approve("ident", version, comment="self", client=client)
    with acting(server, "mallory") as client, pytest.raises(Refused, match="not a reviewer"):
        promote("ident", version, client=client)
    with acting(server, "nobody") as client, pytest.raises(InvalidInput, match="refused the credentials"):
        client.identity()
    with acting(server, None) as client, pytest.raises(InvalidInput, match="requires a login"):
        client.identity()
    runner = CliRunner()
    with acting(server, "bob"):
        own = runner.invoke(app, ["registry", "approve", "-m", "ident", "--version", version, "--reviewer", "carol",
                                  "--comment", "x", "--tracking-uri", server.url])
        assert own.exit_code == 2 and "authenticated as 'bob'" in own.output
        ok = runner.invoke(app, ["registry", "approve", "-m", "ident", "--version", version, "--comment", "fine",
                                 "--tracking-uri", server.url])
        assert ok.exit_code == 0 and "approved by bob" in ok.output and "unauthenticated" not in ok.output


def test_refused_credentials_exit_2_and_a_denied_user_3_as_in_every_command(gate_server, gate_rules, tmp_path):
    """One code per kind of answer across commands (docs/platform.md, "Exit codes"; `pipeline
    submit` and `drift report` give the same): missing or wrong credentials are bad input (2),
    whether the command asks who is acting first (approve) or reads the registry at once
    (history, review); a user the server knows and a rule refuses is refused (3)."""
    server = gate_server
    init_governed(server, gate_rules, "creds")
    version = pipeline_registers(server, "creds", tmp_path, 50.0, author="carol").version
    runner = CliRunner()
    commands = (["history", "-m", "creds"], ["review", "-m", "creds", "--version", version],
                ["approve", "-m", "creds", "--version", version, "--comment", "x"])
    for user in ("nobody", None):  # a wrong password, no credentials at all
        with acting(server, user):
            for command in commands:
                result = runner.invoke(app, ["registry", *command, "--tracking-uri", server.url])
                assert result.exit_code == 2, (user, command, result.output)
                assert "credentials" in result.output or "requires a login" in result.output, result.output
                assert "Traceback" not in result.output
    with acting(server, "mallory"):  # known to the server, not a reviewer
        denied = runner.invoke(app, ["registry", *commands[2], "--tracking-uri", server.url])
        assert denied.exit_code == 3 and "not a reviewer" in denied.output, denied.output


def test_only_the_pipeline_identity_registers_and_nobody_edits_a_candidate(gate_server, gate_rules, tmp_path):
    server = gate_server
    init_governed(server, gate_rules, "authorship")
    result = pipeline_registers(server, "authorship", tmp_path, 50.0, author="alice")
    for user in ("alice", "pipeline", "bob"):
        with acting(server, user) as client:
            forbidden(lambda: client.mlflow.set_model_version_tag(
                candidates_name("authorship"), result.version, "affectgpt.author", "bob"))
    with acting(server, "alice") as client:
        forbidden(lambda: client.mlflow.set_tag(result.run_id, "mlflow.user", "bob"))
        run_id = log_training_run(server.url, "alice", experiment="alice-own")
        with pytest.raises(Refused, match="only the pipeline identity"):
            register_candidate(run_id, "authorship", {"mer2023": 90.0, "meld": 90.0}, data_rev="d", code_rev="c",
                               config_hash="h", scorer_mode="corrected", client=client)
    assert _problems(server, "authorship") == []


def test_typed_scores_lax_rules_and_mode_mismatch_are_refused(gate_server, gate_rules, tmp_path):
    server = gate_server
    init_governed(server, gate_rules, "typed")
    lax = tmp_path / "lax.yaml"
    lax.write_text("required_datasets: [mer2023]\nmin_mean: 0\nrequire_authenticated: false\n")
    with pytest.raises(InvalidInput, match="not accepted by a server registry"):
        pipeline_registers(server, "typed", tmp_path, 1.0, promotion_config=lax)
    typed = pipeline_registers(server, "typed", tmp_path, 0.0, scores={"mer2023": 95.0, "meld": 95.0})
    assert typed.manual and typed.verdict == "fail" and "typed by hand" in typed.reasons[0]
    with acting(server, "bob") as client:
        approve("typed", typed.version, comment="trust me", client=client)
    with acting(server, "carol") as client, pytest.raises(Refused, match="typed by hand"):
        promote("typed", typed.version, client=client)
    with pytest.raises(InvalidInput, match="report mode is 'official' but scorer_mode is 'corrected'"):
        pipeline_registers(server, "typed", tmp_path, 50.0, scores=bench_report(tmp_path, 50.0, mode="official"))
    champion = _approved(server, "typed", tmp_path, 50.0)
    with acting(server, "carol") as client:
        promote("typed", champion, client=client)
    official = _approved(server, "typed", tmp_path, 70.0, mode="official")
    with acting(server, "carol") as client, pytest.raises(Refused, match="scorer mode 'official' differs"):
        promote("typed", official, client=client)


def test_aliases_tags_and_the_log_are_written_by_the_gate_alone(gate_server, gate_rules, tmp_path):
    server = gate_server
    init_governed(server, gate_rules, "aliases")
    version = _approved(server, "aliases", tmp_path, 50.0)
    with acting(server, "carol") as client:
        promote("aliases", version, client=client)
    other = _approved(server, "aliases", tmp_path, 53.0)
    for user in ("pipeline", "bob", "carol", "mallory"):
        with acting(server, user) as client:
            forbidden(lambda: client.mlflow.set_registered_model_alias("aliases", "champion", "1"))
            forbidden(lambda: client.mlflow.set_registered_model_alias(candidates_name("aliases"), "champion", other))
            forbidden(lambda: client.mlflow.copy_model_version(f"models:/{candidates_name('aliases')}/{other}",
                                                               "aliases"))
            for name in ("aliases", audit_copy_name("aliases"), audit_model_name("aliases")):
                forbidden(lambda name=name: client.mlflow.set_registered_model_tag(name, audit_key(99), "{}"))
            for name in (audit_copy_name("aliases"), audit_model_name("aliases")):
                forbidden(lambda name=name: client.mlflow.delete_registered_model_tag(name, audit_key(1)))
            forbidden(lambda: client.mlflow.create_model_version(lock_model_name("aliases"), TICKET_SOURCE, tags={
                TOKEN_TAG: "forged", HOLDER_TAG: "someone", EXPIRES_TAG: "9999999999"}))
    assert _problems(server, "aliases") == []
    with acting(server, "carol") as client, pytest.raises(Refused, match="only an administrator"):
        unlock("aliases", client=client)
    with acting(server, "admin") as client:
        assert unlock("aliases", client=client, reason="nothing held") is None
    with acting(server, "carol") as client:
        assert promote("aliases", other, client=client).champion == "2"


def test_a_lost_audit_event_blocks_everything_until_an_admin_repairs_it(gate_on_each_store, gate_rules, tmp_path):
    server = gate_on_each_store
    init_governed(server, gate_rules, "tamper")
    first = _approved(server, "tamper", tmp_path, 50.0)
    with acting(server, "carol") as client:
        promote("tamper", first, client=client)
    second = _approved(server, "tamper", tmp_path, 53.0)
    with acting(server, "carol") as client:
        promote("tamper", second, client=client)
    with acting(server, "alice") as client:
        register = next(event for event in read_events(client, "tamper") if event.event == "register")
    with acting(server, "admin") as client:  # an administrator's mistake (only they can write it)
        for name in (audit_copy_name("tamper"), audit_model_name("tamper")):
            client.mlflow.delete_registered_model_tag(name, audit_key(register.seq))
    assert any("missing (deleted)" in problem for problem in _problems(server, "tamper"))
    runner = CliRunner()
    with acting(server, "alice"):
        history = runner.invoke(app, ["registry", "history", "-m", "tamper", "--tracking-uri", server.url])
        assert history.exit_code == 3 and "audit log failed its check" in history.output
    with acting(server, "bob") as client, pytest.raises(Refused, match="does not agree with its audit log"):
        rollback("tamper", reason="needed", client=client)
    with acting(server, "bob"):  # only an MLflow administrator repairs
        refused = runner.invoke(app, ["registry", "repair", "-m", "tamper", "--reason", "x",
                                      "--tracking-uri", server.url])
        assert refused.exit_code == 3 and "only an MLflow administrator" in refused.output
    with acting(server, "admin"):
        repaired = runner.invoke(app, ["registry", "repair", "-m", "tamper", "--reason", "tag deleted by mistake",
                                       "--tracking-uri", server.url])
    assert repaired.exit_code == 0, repaired.output
    assert f"1 event(s) lost: #{register.seq}" in repaired.output and "repaired by admin" in repaired.output
    assert _problems(server, "tamper") == []
    with acting(server, "bob") as client:
        assert rollback("tamper", reason="MELD complaints", client=client).champion == "1"
        repair = next(event for event in read_events(client, "tamper") if event.event == "repair")
    assert repair.actor == "admin" and repair.authenticated and repair.details["lost"] == [register.seq]
    assert repair.details["reason"] == "tag deleted by mistake"


def test_rejection_is_final_and_cli_register_prints_the_version(gate_on_each_store, gate_rules, tmp_path):
    server = gate_on_each_store
    init_governed(server, gate_rules, "cliflow")
    runner = CliRunner()
    with acting(server, "pipeline"):
        run_id = log_training_run(server.url, "pipeline", experiment="train-governed")
        registered = runner.invoke(app, [
            "registry", "register", "--run-id", run_id, "--model", "cliflow", "--scores",
            str(bench_report(tmp_path, 50.0)), "--data-rev", "d", "--code-rev", "c", "--config-hash", "h",
            "--submitted-by", "alice", "--json", "--tracking-uri", server.url])
    assert registered.exit_code == 0, registered.output
    version = json.loads(registered.output)["version"]
    with acting(server, "bob") as client:
        reject("cliflow", version, comment="MELD too low", client=client)
        with pytest.raises(Refused, match="rejection is final"):
            approve("cliflow", version, comment="changed my mind", client=client)
    with acting(server, "carol") as client, pytest.raises(Refused, match="was rejected by bob"):
        promote("cliflow", version, client=client)


def test_an_older_registry_is_moved_by_the_gate_at_its_next_append(gate_server, gate_rules, tmp_path):
    server = gate_server
    init_governed(server, gate_rules, "legacy")
    version = pipeline_registers(server, "legacy", tmp_path, 50.0).version
    with acting(server, "admin") as client:  # as a registry set up before `legacy-audit-copy` existed
        before = read_events(client, "legacy")
        lay_out_the_old_way(client, "legacy")
        assert audit_keys(client, "legacy") == [audit_key(event.seq) for event in before]
    gate_models = GateStore(f"sqlite:///{server.root / 'auth.db'}")  # the gate's own table, as then
    with gate_models.engine.begin() as connection:
        connection.execute(OWNED_MODELS.delete().where(OWNED_MODELS.c.name == audit_copy_name("legacy")))
    with acting(server, "mallory") as client:  # read as it is; nobody claims the name meanwhile
        assert read_events(client, "legacy") == before
        forbidden(lambda: client.mlflow.create_registered_model(audit_copy_name("legacy")))
    assert _problems(server, "legacy") == []
    with acting(server, "bob") as client:  # the gate's next append moves the log
        approve("legacy", version, comment="fine", client=client)
        assert audit_keys(client, "legacy") == []
        events = read_events(client, "legacy")
        assert events[:len(before)] == before and events[-1].event == "approval"
        assert events == read_audit_copy(client, "legacy")
        forbidden(lambda: client.mlflow.set_registered_model_tag(audit_copy_name("legacy"), audit_key(99), "{}"))
    assert gate_models.owns(audit_copy_name("legacy"))  # created and recorded by the gate
    with acting(server, "carol") as client:
        assert promote("legacy", version, client=client).champion == "1"
    assert _problems(server, "legacy") == []
