"""The dishonest moves of docs/registry.md's threat model, each played by the attacker with the
plain MLflow client (or REST) and their own credentials against a real server running the
registry gate. Each must be refused up front, before any alias moves, not found afterwards."""

from __future__ import annotations

import json

import pytest
import requests
from registry_testkit import (
    GATE_PASSWORDS,
    acting,
    audit_keys,
    bench_report,
    forbidden,
    init_governed,
    lay_out_the_old_way,
    pipeline_registers,
)

from affectgpt.registry import (
    InvalidInput,
    Refused,
    approve,
    current_alias,
    init_registry,
    promote,
    read_audit_copy,
    read_events,
)
from affectgpt.registry.audit import AuditEvent, audit_copy_name, audit_key, audit_model_name
from affectgpt.registry.gate_client import GATE_PATH
from affectgpt.registry.gate_store import OWNED_MODELS, GateStore
from affectgpt.registry.governance import TAG_RULES
from affectgpt.registry.lock import lock_model_name
from affectgpt.registry.records import TAG_STATE, candidates_name

pytestmark = pytest.mark.integration


def test_pipeline_cannot_swap_the_evidence_or_the_author_before_the_first_review(gate_server, gate_rules, tmp_path):
    server = gate_server
    init_governed(server, gate_rules, "swap")
    failing = pipeline_registers(server, "swap", tmp_path, 10.0, author="alice")
    assert failing.verdict == "fail"
    with acting(server, "pipeline") as client:  # before anyone has looked at it
        tags = client.mlflow.get_model_version(candidates_name("swap"), failing.version).tags
        state = json.loads(tags[TAG_STATE])
        state["registration"] |= {"author": "mallory", "scores": {"mer2023": 99.0, "meld": 99.0}}
        state["gate"] = {"verdict": "pass", "reasons": []}
        forbidden(lambda: client.mlflow.set_model_version_tag(candidates_name("swap"), failing.version,
                                                              TAG_STATE, json.dumps(state)))
        forbidden(lambda: client.mlflow.set_model_version_tag(candidates_name("swap"), failing.version,
                                                              "affectgpt.gate.verdict", "pass"))
        passing = bench_report(tmp_path / "forged", 99.0)  # its own run: this upload is allowed ...
        staged = passing.parent / "staged"
        staged.mkdir()
        (staged / "report.json").write_bytes(passing.read_bytes())
        client.mlflow.log_artifact(failing.run_id, str(staged / "report.json"), "affectgpt-bench")
    with acting(server, "alice") as client:  # ... and changes nothing the gate reads
        register = next(event for event in read_events(client, "swap") if event.event == "register")
    assert register.details["author"] == "alice" and register.details["scores"]["mer2023"] == 10.0
    with acting(server, "bob") as client:
        approve("swap", failing.version, comment="looks fine", client=client)
    with acting(server, "carol") as client:
        with pytest.raises(Refused, match="mean 10.00 is below the minimum mean"):
            promote("swap", failing.version, client=client)
        assert current_alias(client, "swap") is None


def test_a_reviewer_cannot_forge_an_init_with_relaxed_rules(gate_server, gate_rules, tmp_path):
    server = gate_server
    init_governed(server, gate_rules, "relax")
    failing = pipeline_registers(server, "relax", tmp_path, 10.0)
    with acting(server, "bob") as client:
        head = read_events(client, "relax")[-1]
        lax = {"required_datasets": ["mer2023"], "min_mean": 0.0, "require_authenticated": True}
        forged = AuditEvent(seq=head.seq + 1, at=head.at, event="init", model="relax", actor="admin", authenticated=True,
                            details={"rules": lax, "rules_hash": "x", "roles": {"pipeline_user": "pipeline",
                                                                                "reviewers": ["bob", "carol"]}},
                            prev_hash=head.hash)
        forged.hash = forged.compute_hash()
        for name in ("relax", audit_copy_name("relax"), audit_model_name("relax")):
            forbidden(lambda name=name: client.mlflow.set_registered_model_tag(name, audit_key(forged.seq),
                                                                               forged.to_json_line()))
        forbidden(lambda: client.mlflow.set_registered_model_tag("relax", TAG_RULES, json.dumps(lax)))
        rules = tmp_path / "lax.yaml"
        rules.write_text("required_datasets: [mer2023]\nmin_mean: 0\n")
        with pytest.raises(Refused, match="needs an MLflow administrator"):  # nor through the gate
            init_registry("relax", pipeline_user="pipeline", reviewers=["bob"], rules_path=rules, client=client)
    with acting(server, "carol") as client:
        approve("relax", failing.version, comment="bob asked me", client=client)
    with acting(server, "bob") as client, pytest.raises(Refused, match="below the minimum mean"):
        promote("relax", failing.version, client=client)
    with acting(server, "alice") as client:
        inits = [event for event in read_events(client, "relax") if event.event == "init"]
    assert [event.actor for event in inits] == ["admin"]


def test_an_author_reviewer_cannot_write_another_reviewers_approval(gate_on_each_store, gate_rules, tmp_path):
    server = gate_on_each_store
    init_governed(server, gate_rules, "selfie")
    own = pipeline_registers(server, "selfie", tmp_path, 50.0, author="bob").version
    with acting(server, "bob") as client:
        head = read_events(client, "selfie")[-1]
        forged = AuditEvent(seq=head.seq + 1, at=head.at, event="approval", model="selfie", version=own,
                            actor="carol", authenticated=True, prev_hash=head.hash,
                            details={"decision": "approved", "reviewer": "carol", "authenticated": True,
                                     "comment": "ok", "at": head.at, "reviewed_against": "none"})
        forged.hash = forged.compute_hash()
        for name in ("selfie", audit_copy_name("selfie"), audit_model_name("selfie")):
            forbidden(lambda name=name: client.mlflow.set_registered_model_tag(name, audit_key(forged.seq),
                                                                               forged.to_json_line()))
        with pytest.raises(Refused, match="bob is its author"):
            approve("selfie", own, comment="mine is good", client=client)
        with pytest.raises(Refused, match="has no approval"):
            promote("selfie", own, client=client)
        assert current_alias(client, "selfie") is None
        assert not [event for event in read_events(client, "selfie") if event.event == "approval"]


def test_init_refuses_models_someone_else_created_first(gate_server, gate_rules):
    server = gate_server
    with acting(server, "mallory") as client:  # default READ may create new registered models
        for name in ("grab", candidates_name("grab"), audit_model_name("grab"), lock_model_name("grab")):
            client.mlflow.create_registered_model(name)
    with acting(server, "admin") as client, pytest.raises(Refused, match="mallory holds MANAGE on grab") as refused:
        init_registry("grab", pipeline_user="pipeline", reviewers=["bob", "carol"], rules_path=gate_rules,
                      client=client)
    assert "nothing was changed" in str(refused.value)
    with acting(server, "alice") as client:
        assert read_events(client, "grab") == []
    with acting(server, "mallory") as client:  # a planted, well-formed log is refused too
        client.mlflow.create_registered_model("grab2-audit")
        client.mlflow.set_registered_model_tag("grab2-audit", audit_key(1), "{}")
    with acting(server, "admin") as client, pytest.raises(Refused, match="grab2-audit already exists"):
        init_registry("grab2", pipeline_user="pipeline", reviewers=["bob"], rules_path=gate_rules, client=client)


def test_nothing_written_on_a_candidate_freezes_the_registry(gate_server, gate_rules, tmp_path):
    server = gate_server
    init_governed(server, gate_rules, "freeze")
    version = pipeline_registers(server, "freeze", tmp_path, 50.0).version
    with acting(server, "pipeline") as client:
        forbidden(lambda: client.mlflow.set_model_version_tag(candidates_name("freeze"), version,
                                                              f"affectgpt.approval.{version}", "approved"))
    with acting(server, "bob") as client:  # a reviewer deleting one audit event from both copies
        for name in (audit_copy_name("freeze"), audit_model_name("freeze")):
            forbidden(lambda name=name: client.mlflow.delete_registered_model_tag(name, audit_key(2)))
    with acting(server, "admin") as client:  # even where someone could write such a tag, it blocks nothing
        client.mlflow.set_model_version_tag(candidates_name("freeze"), version, f"affectgpt.approval.{version}",
                                            "approved")
    with acting(server, "bob") as client:
        approve("freeze", version, comment="fine", client=client)
    with acting(server, "carol") as client:
        assert promote("freeze", version, client=client).champion == "1"
        from affectgpt.registry import verify_registry

        assert any("approval without an event" in finding for finding in
                   verify_registry(client, "freeze").candidate_findings)  # still reported, read-only


def test_nobody_but_the_gate_creates_or_writes_the_first_audit_copy(gate_server, gate_rules):
    server = gate_server
    first = audit_copy_name("claim")
    with acting(server, "mallory") as client:  # before init: the name is the gate's, whatever its case
        refusal = forbidden(lambda: client.mlflow.create_registered_model(first))
        assert "kept for the registry gate" in refusal
        forbidden(lambda: client.mlflow.create_registered_model("CLAIM-Audit-Copy"))
        client.mlflow.create_registered_model("claim-mine")  # any other name: MLflow's default
        forbidden(lambda: client.mlflow.rename_registered_model("claim-mine", first))
    answer = requests.post(f"{server.url}/api/2.0/mlflow/registered-models/create", timeout=30,  # raw REST too
                           auth=("mallory", GATE_PASSWORDS["mallory"]), json={"name": first})
    assert answer.status_code == 403 and "kept for the registry gate" in answer.json()["message"]
    init_governed(server, gate_rules, "claim")
    for user in ("pipeline", "bob", "carol", "mallory"):
        with acting(server, user) as client:
            forbidden(lambda: client.mlflow.set_registered_model_tag(first, audit_key(2), "{}"))
            forbidden(lambda: client.mlflow.delete_registered_model_tag(first, audit_key(1)))
            forbidden(lambda: client.mlflow.update_registered_model(first, description="mine now"))
            forbidden(lambda: client.mlflow.rename_registered_model(first, "claim-elsewhere"))
            forbidden(lambda: client.mlflow.delete_registered_model(first))
    with acting(server, "alice") as client:
        assert audit_keys(client, first) == [audit_key(1)] and audit_keys(client, "claim") == []
        assert [event.event for event in read_events(client, "claim")] == ["init"]


def test_a_first_audit_copy_someone_else_holds_is_never_written(gate_server, gate_rules, tmp_path):
    """An older registry whose `NAME-audit-copy` a user made before the name was kept for the gate
    (so they manage it), holding a well-formed event the log never had: the forged event is named,
    never read as part of the log, and the gate moves nothing and writes nothing there."""
    from mlflow.server import get_app_client

    server = gate_server
    init_governed(server, gate_rules, "seized")
    version = pipeline_registers(server, "seized", tmp_path, 50.0).version
    first = audit_copy_name("seized")
    with acting(server, "admin") as client:
        lay_out_the_old_way(client, "seized")
        init, head = read_events(client, "seized")[0], read_events(client, "seized")[-1]
        client.mlflow.create_registered_model(first)
        get_app_client("basic-auth", tracking_uri=server.url).grant_user_permission(
            "mallory", "registered_model", first, "MANAGE")
    with GateStore(f"sqlite:///{server.root / 'auth.db'}").engine.begin() as connection:
        connection.execute(OWNED_MODELS.delete().where(OWNED_MODELS.c.name == first))  # never the gate's
    with acting(server, "mallory") as client:  # she makes herself a reviewer, in the right shape
        roles = init.details["roles"] | {"reviewers": ["bob", "mallory"], "admins": ["mallory"]}
        forged = AuditEvent(seq=head.seq + 1, at=head.at, event="init", model="seized", actor="admin",
                            authenticated=True, prev_hash=head.hash, details=init.details | {"roles": roles})
        forged.hash = forged.compute_hash()
        client.mlflow.set_registered_model_tag(first, audit_key(forged.seq), forged.to_json_line())
    with acting(server, "bob") as client:
        assert forged not in read_events(client, "seized")
        with pytest.raises(Refused, match=f"{first}: event #{forged.seq} is in neither seized nor seized-audit"):
            approve("seized", version, comment="fine", client=client)
    with acting(server, "mallory") as client:  # the forged event gone, the model is still hers
        client.mlflow.delete_registered_model_tag(first, audit_key(forged.seq))
    with acting(server, "bob") as client, pytest.raises(Refused, match=f"mallory holds MANAGE on {first}"):
        approve("seized", version, comment="fine", client=client)
    with acting(server, "alice") as client:
        assert audit_keys(client, first) == [] and audit_keys(client, "seized") == [audit_key(1), audit_key(2)]
        assert read_audit_copy(client, "seized") == read_events(client, "seized")


@pytest.mark.parametrize("submitter", ["\u0430lice", "nobody-at-all"])  # a Cyrillic 'а'; a made-up user
def test_a_submitter_must_be_a_real_user(gate_server, gate_rules, tmp_path, submitter):
    server = gate_server
    init_governed(server, gate_rules, "who")
    with pytest.raises(InvalidInput, match="is not a user of this MLflow server"):
        pipeline_registers(server, "who", tmp_path, 50.0, author=submitter)
    answer = requests.post(f"{server.url}{GATE_PATH}/register", timeout=30,  # the raw REST call too
                           auth=("pipeline", GATE_PASSWORDS["pipeline"]),
                           json={"model": "who", "run_id": "x", "submitted_by": submitter, "scores": {"mer2023": 1}})
    assert answer.status_code == 400 and answer.json()["error_code"] == "INVALID_INPUT"
