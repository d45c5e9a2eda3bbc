"""The registry against a real `mlflow server --app-name basic-auth` with users made here
(admin, the pipeline identity, reviewers bob and carol, data scientist alice): the honest flow
works, and every attack a user holding the plain MLflow client and their own credentials can try
is refused by the server or the CLI, or detected by `registry verify`."""

from __future__ import annotations

import json
import time
from contextlib import contextmanager
from pathlib import Path

import pytest
from registry_testkit import FAST_RETRY, MlflowServer, environ, log_training_run
from typer.testing import CliRunner

from affectgpt.cli import app
from affectgpt.registry import (
    InvalidInput,
    Refused,
    RegistryClient,
    approve,
    init_registry,
    promote,
    read_audit_copy,
    read_events,
    register_candidate,
    reject,
    rollback,
    unlock,
    verify_registry,
)
from affectgpt.registry.audit import audit_key, audit_model_name
from affectgpt.registry.lock import EXPIRES_TAG, HOLDER_TAG, TICKET_SOURCE, TOKEN_TAG, lock_model_name
from affectgpt.registry.records import candidates_name

pytestmark = pytest.mark.integration

PASSWORDS = {"pipeline": "pipeline-password-1", "bob": "bob-password-12", "carol": "carol-password-1", "alice": "alice-password-1",
             "admin": MlflowServer.ADMIN_PASSWORD}
RULES = ("required_datasets: [mer2023, meld]\nmin_mean_improvement: 0.5\nmax_regression: 2.0\n"
         "min_scores: {}\nmin_mean: 20.0\nrequire_same_scorer_mode: true\nrequire_authenticated: true\n")


@contextmanager
def acting(server: MlflowServer, user: str | None):
    """Run the body as `user` (the MLflow client reads the credentials from the environment)."""
    credentials = {"MLFLOW_TRACKING_USERNAME": user, "MLFLOW_TRACKING_PASSWORD":
                   None if user is None else PASSWORDS.get(user, "wrong-password")}
    with environ(credentials):
        yield RegistryClient(server.url, FAST_RETRY)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    from mlflow.server import get_app_client

    started = MlflowServer(tmp_path_factory.mktemp("mlflow-basic-auth"), auth=True)
    started.start()
    try:
        with acting(started, "admin"):
            users = get_app_client("basic-auth", tracking_uri=started.url)
            for name in ("pipeline", "bob", "carol", "alice"):
                users.create_user(name, PASSWORDS[name])
        yield started
    finally:
        started.stop()


@pytest.fixture(scope="module")
def rules_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("rules") / "promotion.yaml"
    path.write_text(RULES)
    return path


def _init(server, rules_file, model: str) -> None:
    with acting(server, "admin") as client:
        init_registry(model, pipeline_user="pipeline", reviewers=["bob", "carol"], rules_path=rules_file,
                      client=client)


def _report(folder: Path, level: float, mode: str = "corrected", **overrides) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    scores = {"mer2023": level, "meld": level, **overrides}
    path = folder / f"report-{level}-{time.monotonic_ns()}.json"
    path.write_text(json.dumps({"units": "percent", "mode": mode, "datasets": {
        name: {"value": value, "status": "scored"} for name, value in scores.items()}}))
    return path


def _pipeline_registers(server, model, tmp_path, level, *, author="alice", mode="corrected", **kwargs):
    with acting(server, "pipeline") as client:
        run_id = log_training_run(server.url, "pipeline", experiment="train-governed")
        scores = kwargs.pop("scores", None) or _report(tmp_path, level, mode)
        return register_candidate(run_id, model, scores, data_rev=f"dvc-{level}", code_rev="c1", config_hash="h1",
                                  scorer_mode=mode, submitted_by=author, client=client, **kwargs)


def _approved(server, model, tmp_path, level, reviewer="bob", **kwargs) -> str:
    version = _pipeline_registers(server, model, tmp_path, level, **kwargs).version
    with acting(server, reviewer) as client:
        approve(model, version, comment="beats the champion", client=client)
    return version


def _problems(server, model) -> list[str]:
    with acting(server, "alice") as client:  # anyone may verify: it only reads
        return verify_registry(client, model).all_problems()


def _forbidden(call) -> str:
    with pytest.raises(Exception) as caught:
        call()
    assert "403" in str(caught.value) or "Permission denied" in str(caught.value), caught.value
    return str(caught.value)


def test_honest_flow_pipeline_registers_reviewer_approves_another_promotes_then_rollback(
    server, rules_file, tmp_path
):
    _init(server, rules_file, "honest")
    first = _pipeline_registers(server, "honest", tmp_path, 50.0)
    assert first.created and first.author == "alice" and first.verdict == "pass"
    with acting(server, "bob") as client:
        decision = approve("honest", first.version, comment="first model", client=client)
    assert decision.reviewer == "bob" and decision.authenticated
    with acting(server, "carol") as client:
        change = promote("honest", first.version, client=client)
    assert (change.champion, change.previous, change.candidate) == ("1", None, first.version)
    second = _approved(server, "honest", tmp_path, 53.0, reviewer="carol")
    with acting(server, "bob") as client:
        assert promote("honest", second, client=client).champion == "2"
        aliases = client.mlflow.get_registered_model("honest").aliases
        assert {k: str(v) for k, v in aliases.items()} == {"champion": "2", "previous": "1"}
        back = rollback("honest", reason="MELD complaints", client=client)
    assert (back.champion, back.previous) == ("1", None)
    assert _problems(server, "honest") == []
    with acting(server, "alice") as client:
        events = read_events(client, "honest")
        assert events == read_audit_copy(client, "honest")
    names = [event.event for event in events]
    assert names[0] == "init" and names[-1] == "rollback" and names.count("promotion") == 2
    assert all(event.authenticated for event in events)
    register = next(event for event in events if event.event == "register")
    assert register.details["author"] == "alice" and register.details["registered_by"] == "pipeline"
    # the rolled-back candidate lost its approval
    with acting(server, "carol") as client, pytest.raises(Refused, match="approval was revoked"):
        promote("honest", second, client=client)


def test_identity_is_the_server_login_not_a_typed_name(server, rules_file, tmp_path):
    _init(server, rules_file, "ident")
    version = _pipeline_registers(server, "ident", tmp_path, 50.0, author="carol").version
    with acting(server, "carol") as client:  # the author, logged in as herself, types another name
        with pytest.raises(InvalidInput, match="authenticated as 'carol' but named 'bob'"):
            approve("ident", version, reviewer="bob", comment="lgtm", client=client)
        with pytest.raises(Refused, match="four-eyes"):  # and as herself: her own work
            approve("ident", version, comment="lgtm", client=client)
    with acting(server, "alice") as client:  # not a reviewer: the CLI refuses, the server would too
        with pytest.raises(Refused, match="not a reviewer"):
            approve("ident", version, comment="lgtm", client=client)
        _forbidden(lambda: client.mlflow.set_registered_model_tag("ident", "affectgpt.approval.1", "approved"))
    # the registering identity is not a reviewer either
    with acting(server, "pipeline") as client, pytest.raises(Refused):
        approve("ident", version, comment="self", client=client)
    with acting(server, "mallory") as client, pytest.raises(InvalidInput, match="refused the credentials"):
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


def test_author_and_registration_cannot_be_rewritten(server, rules_file, tmp_path):
    _init(server, rules_file, "authorship")
    result = _pipeline_registers(server, "authorship", tmp_path, 50.0, author="alice")
    with acting(server, "alice") as client:  # the author holds only READ on candidates and the run
        _forbidden(lambda: client.mlflow.set_model_version_tag(
            candidates_name("authorship"), result.version, "affectgpt.author", "bob"))
        _forbidden(lambda: client.mlflow.set_tag(result.run_id, "mlflow.user", "bob"))
        with pytest.raises(Refused, match="only the pipeline identity"):  # nor claim a submitter
            run_id = log_training_run(server.url, "alice", experiment="alice-own")
            register_candidate(run_id, "authorship", _report(tmp_path, 60.0), data_rev="d", code_rev="c",
                               config_hash="h", scorer_mode="corrected", submitted_by="bob", client=client)
    with acting(server, "bob") as client:
        approve("authorship", result.version, comment="ok", client=client)  # logs the registration
    with acting(server, "pipeline") as client:  # the pipeline rewrites the author afterwards
        tags = client.mlflow.get_model_version(candidates_name("authorship"), result.version).tags
        state = json.loads(tags["affectgpt.state"])
        state["registration"] |= {"author": "bob"}
        client.mlflow.set_model_version_tag(candidates_name("authorship"), result.version,
                                            "affectgpt.state", json.dumps(state))
    assert any("registration record" in problem for problem in _problems(server, "authorship"))


def test_gate_is_recomputed_from_the_registered_report(server, rules_file, tmp_path):
    _init(server, rules_file, "evidence")
    low = _pipeline_registers(server, "evidence", tmp_path, 10.0)
    assert low.verdict == "fail"
    with acting(server, "bob") as client:
        approve("evidence", low.version, comment="let it through", client=client)
    with acting(server, "pipeline") as client:  # overwrite the stored verdict (the record is logged)
        state = json.loads(client.mlflow.get_model_version(candidates_name("evidence"), low.version)
                           .tags["affectgpt.state"])
        state["gate"] = {"verdict": "pass", "reasons": []}
        for key, value in {"affectgpt.gate.verdict": "pass", "affectgpt.state": json.dumps(state)}.items():
            client.mlflow.set_model_version_tag(candidates_name("evidence"), low.version, key, value)
    with acting(server, "carol") as client, pytest.raises(Refused, match=r"mean 10.00 is below the minimum mean 20.00"):
        promote("evidence", low.version, client=client)
    good = _pipeline_registers(server, "evidence", tmp_path, 60.0)
    with acting(server, "bob") as client:
        approve("evidence", good.version, comment="good", client=client)
    with acting(server, "pipeline") as client:  # swap the evidence for a better-looking report
        forged = _report(tmp_path / "forged", 99.0)
        staged = forged.parent / "staged"
        staged.mkdir()
        (staged / "report.json").write_bytes(forged.read_bytes())
        client.mlflow.log_artifact(good.run_id, str(staged / "report.json"), "affectgpt-bench")
    with acting(server, "carol") as client, pytest.raises(Refused, match="changed since registration"):
        promote("evidence", good.version, client=client)


def test_typed_scores_lax_rules_and_mode_mismatch_are_refused(server, rules_file, tmp_path):
    _init(server, rules_file, "typed")
    lax = tmp_path / "lax.yaml"
    lax.write_text("required_datasets: [mer2023]\nmin_mean: 0\nrequire_authenticated: false\n")
    with pytest.raises(InvalidInput, match="not accepted by a server registry"):
        _pipeline_registers(server, "typed", tmp_path, 1.0, promotion_config=lax)
    typed = _pipeline_registers(server, "typed", tmp_path, 0.0, scores={"mer2023": 95.0, "meld": 95.0})
    assert typed.manual and typed.verdict == "fail" and "typed by hand" in typed.reasons[0]
    with acting(server, "bob") as client:
        approve("typed", typed.version, comment="trust me", client=client)
    with acting(server, "carol") as client, pytest.raises(Refused, match="typed by hand"):
        promote("typed", typed.version, client=client)
    with pytest.raises(InvalidInput, match="report mode is 'official' but scorer_mode is 'corrected'"):
        _pipeline_registers(server, "typed", tmp_path, 50.0, scores=_report(tmp_path, 50.0, mode="official"))
    champion = _approved(server, "typed", tmp_path, 50.0)
    with acting(server, "carol") as client:
        promote("typed", champion, client=client)
    official = _approved(server, "typed", tmp_path, 70.0, mode="official")
    with acting(server, "carol") as client, pytest.raises(Refused, match="scorer mode 'official' differs from the champion's 'corrected'"):
        promote("typed", official, client=client)


def test_hand_written_approvals_do_not_promote_and_are_detected(server, rules_file, tmp_path):
    _init(server, rules_file, "forged")
    version = _pipeline_registers(server, "forged", tmp_path, 50.0).version
    with acting(server, "pipeline") as client:
        for key, value in {"affectgpt.approval.status": "approved",
                           "affectgpt.approval.record": json.dumps({"reviewer": "bob"})}.items():
            client.mlflow.set_model_version_tag(candidates_name("forged"), version, key, value)
    assert any("approval without an event" in problem for problem in _problems(server, "forged"))
    with acting(server, "carol") as client:
        with pytest.raises(Refused, match="does not agree with its audit log"):
            promote("forged", version, client=client)
        client.mlflow.set_registered_model_tag("forged", f"affectgpt.approval.{version}",
                                               json.dumps({"status": "approved"}))
    assert any("has no decision event" in problem for problem in _problems(server, "forged"))


def test_aliases_moved_outside_the_cli_are_refused_or_detected(server, rules_file, tmp_path):
    _init(server, rules_file, "aliases")
    version = _approved(server, "aliases", tmp_path, 50.0)
    with acting(server, "carol") as client:
        promote("aliases", version, client=client)
    with acting(server, "pipeline") as client:
        _forbidden(lambda: client.mlflow.set_registered_model_alias("aliases", "champion", "1"))
        client.mlflow.set_registered_model_alias(candidates_name("aliases"), "champion", version)
    assert any("aliases-candidates@champion" in problem for problem in _problems(server, "aliases"))
    with acting(server, "admin") as client:  # removing an alias needs the DELETE right: administrators
        client.mlflow.delete_registered_model_alias(candidates_name("aliases"), "champion")
    assert _problems(server, "aliases") == []
    other = _approved(server, "aliases", tmp_path, 53.0)
    with acting(server, "bob") as client:  # a reviewer copies and moves the alias by hand
        copied = client.mlflow.copy_model_version(f"models:/{candidates_name('aliases')}/{other}", "aliases")
        client.mlflow.set_registered_model_alias("aliases", "champion", copied.version)
    problems = _problems(server, "aliases")
    assert any("aliases@champion is v2 but the audit log says v1" in p for p in problems), problems
    assert any("aliases v2 was not created by a logged promotion" in p for p in problems), problems
    runner = CliRunner()
    with acting(server, "alice"):
        verified = runner.invoke(app, ["registry", "verify", "-m", "aliases", "--tracking-uri", server.url])
    assert verified.exit_code == 6 and "moved outside the registry CLI" in verified.output
    with acting(server, "carol") as client, pytest.raises(Refused, match="does not agree with its audit log"):
        promote("aliases", other, client=client)


def test_audit_log_tampering_is_detected_and_blocks_history_and_promote(server, rules_file, tmp_path):
    _init(server, rules_file, "tamper")
    version = _approved(server, "tamper", tmp_path, 50.0)
    with acting(server, "bob") as client:
        events = read_events(client, "tamper")
        register = next(event for event in events if event.event == "register")
        client.mlflow.delete_registered_model_tag("tamper", audit_key(register.seq))
    problems = _problems(server, "tamper")
    assert any("missing (deleted)" in p for p in problems) and any("not in tamper (deleted)" in p for p in problems)
    runner = CliRunner()
    with acting(server, "alice"):
        history = runner.invoke(app, ["registry", "history", "-m", "tamper", "--tracking-uri", server.url])
        assert history.exit_code == 3 and "audit log failed its check" in history.output
    with acting(server, "carol") as client, pytest.raises(Refused, match="does not agree with its audit log"):
        promote("tamper", version, client=client)
    with acting(server, "bob") as client:  # put it back, then edit another event in both copies
        client.mlflow.set_registered_model_tag("tamper", audit_key(register.seq), register.to_json_line())
        assert _problems(server, "tamper") == []
        approval = next(event for event in events if event.event == "approval")
        edited = approval.model_copy(update={"actor": "carol"}).to_json_line()
        for target in ("tamper", audit_model_name("tamper")):
            client.mlflow.set_registered_model_tag(target, audit_key(approval.seq), edited)
    assert any(f"event #{approval.seq} (approval) was edited" in p for p in _problems(server, "tamper"))
    with acting(server, "pipeline") as client:  # the pipeline cannot write either copy
        _forbidden(lambda: client.mlflow.set_registered_model_tag("tamper", audit_key(99), "{}"))
        _forbidden(lambda: client.mlflow.set_registered_model_tag(audit_model_name("tamper"), audit_key(99), "{}"))


def test_locks_cannot_be_held_hostage(server, rules_file, tmp_path):
    _init(server, rules_file, "hostage")
    version = _approved(server, "hostage", tmp_path, 50.0)
    lock = lock_model_name("hostage")
    far_future = {TOKEN_TAG: "forged", HOLDER_TAG: "bob", EXPIRES_TAG: f"{time.time() + 10 * 365 * 86400:.3f}"}
    for user in ("pipeline", "alice"):  # only reviewers may take a lease ticket
        with acting(server, user) as client:
            _forbidden(lambda: client.mlflow.create_model_version(lock, TICKET_SOURCE, tags=far_future))
    with acting(server, "bob") as client:  # a reviewer forges one for ten years with the plain client
        client.mlflow.create_model_version(lock, TICKET_SOURCE, tags=far_future)
    with acting(server, "carol") as client:  # beyond the cap: broken at once, and logged
        assert promote("hostage", version, client=client, lease_wait_s=5).champion == "1"
        assert "lock_broken" in [event.event for event in read_events(client, "hostage")]
    later = _approved(server, "hostage", tmp_path, 53.0)
    with acting(server, "bob") as client:  # within the cap: it holds until it expires or an admin unlocks
        client.mlflow.create_model_version(lock, TICKET_SOURCE, tags={**far_future, EXPIRES_TAG: f"{time.time() + 200:.3f}"})
    with acting(server, "carol") as client:
        with pytest.raises(Refused, match="another alias change holds the lease"):
            promote("hostage", later, client=client, lease_wait_s=1)
        with pytest.raises(Refused, match="only an administrator"):
            unlock("hostage", client=client)
    with acting(server, "admin") as client:
        released = unlock("hostage", client=client, reason="stuck")
        assert [ticket[TOKEN_TAG] for ticket in released] == ["forged"]
        assert read_events(client, "hostage")[-1].event == "unlock"
    with acting(server, "carol") as client:
        assert promote("hostage", later, client=client, lease_wait_s=5).champion == "2"
    assert _problems(server, "hostage") == []


def test_rejection_is_final_and_cli_register_prints_the_version(server, rules_file, tmp_path):
    _init(server, rules_file, "cliflow")
    runner = CliRunner()
    with acting(server, "pipeline"):
        run_id = log_training_run(server.url, "pipeline", experiment="train-governed")
        registered = runner.invoke(app, [
            "registry", "register", "--run-id", run_id, "--model", "cliflow", "--scores",
            str(_report(tmp_path, 50.0)), "--data-rev", "d", "--code-rev", "c", "--config-hash", "h",
            "--submitted-by", "alice", "--json", "--tracking-uri", server.url])
    assert registered.exit_code == 0, registered.output
    version = json.loads(registered.output)["version"]
    with acting(server, "bob") as client:
        reject("cliflow", version, comment="MELD too low", client=client)
        with pytest.raises(Refused, match="rejection is final"):
            approve("cliflow", version, comment="changed my mind", client=client)
    with acting(server, "carol") as client, pytest.raises(Refused, match="was rejected by bob"):
        promote("cliflow", version, client=client)
