"""Where the audit log lives: its two copies are the tags of `NAME-audit-copy` (written first) and
`NAME-audit`, so the production model's MLflow page carries no audit events. A registry set up
when the first copy lay in the tags of `NAME` is read as it is and moved by its next append, once
the log checks out against `NAME-audit`; a move cut short reads as one log and is finished by the
append after. Here on the embedded sqlite store; the same on the registry gate's server is in
test_registry_governance.py and test_registry_attacks.py."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from registry_testkit import audit_keys, lay_out_the_old_way, log_training_run

from affectgpt.registry import (
    Refused,
    approve,
    promote,
    read_audit_copy,
    read_events,
    register_candidate,
    repair_registry,
    review_version,
    verify_registry,
)
from affectgpt.registry.audit import audit_copy_name, audit_key, audit_model_name, load_log

RULES = ("required_datasets: [mer2023, meld]\nmin_mean_improvement: 0.5\nmax_regression: 2.0\n"
         "min_scores: {}\nmin_mean: 20.0\nrequire_authenticated: false\n")


@pytest.fixture(scope="module")
def rules(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("rules") / "promotion.yaml"
    path.write_text(RULES)
    return path


def _register(client, rules, model, level, author="alice") -> str:
    folder = Path(client.tracking_uri[len("sqlite:///"):]).parent / "reports"
    folder.mkdir(parents=True, exist_ok=True)
    report = folder / f"report-{time.monotonic_ns()}.json"
    report.write_text(json.dumps({"units": "percent", "mode": "corrected", "datasets": {
        name: {"value": level, "status": "scored"} for name in ("mer2023", "meld")}}))
    return register_candidate(log_training_run(client.tracking_uri, author), model, report, data_rev=f"dvc-{level}",
                              code_rev="c1", config_hash="h1", scorer_mode="corrected", promotion_config=rules,
                              client=client, actor=author).version


def _both_copies(client, model) -> list:
    events = read_events(client, model)
    assert read_audit_copy(client, model) == events
    assert [key for key in audit_keys(client, audit_copy_name(model))] == [audit_key(e.seq) for e in events]
    return events


def test_the_production_page_carries_no_audit_tags(sqlite_client, rules, tmp_path):
    version = _register(sqlite_client, rules, "clean", 50.0)
    review_version("clean", version, out_dir=tmp_path, reviewer="bob", client=sqlite_client)
    approve("clean", version, reviewer="bob", comment="fine", client=sqlite_client)
    promote("clean", version, actor="carol", client=sqlite_client)
    production = sqlite_client.mlflow.get_registered_model("clean")
    assert audit_keys(sqlite_client, "clean") == []
    assert set(production.tags) == {"affectgpt.rules", "affectgpt.roles", f"affectgpt.approval.{version}"}
    for value in production.tags.values():  # tags show as plain text: no markdown in them
        assert "**" not in value and "`" not in value and "\n" not in value
    events = _both_copies(sqlite_client, "clean")
    assert [event.event for event in events] == ["init", "register", "review", "approval", "promotion"]
    assert "`clean-audit-copy` and `clean-audit`" in production.description  # where to find it, in markdown
    assert verify_registry(sqlite_client, "clean").ok


def test_an_older_registry_is_read_as_it_is_and_moved_by_its_next_append(sqlite_client, rules):
    version = _register(sqlite_client, rules, "older", 50.0)
    before = _both_copies(sqlite_client, "older")
    lay_out_the_old_way(sqlite_client, "older")
    assert audit_keys(sqlite_client, "older") == [audit_key(event.seq) for event in before]
    assert read_events(sqlite_client, "older") == before and verify_registry(sqlite_client, "older").ok
    log = load_log(sqlite_client, "older")
    assert not log.first_copy_exists and log.on_production

    approve("older", version, reviewer="bob", comment="fine", client=sqlite_client)  # the next append
    assert audit_keys(sqlite_client, "older") == []
    after = _both_copies(sqlite_client, "older")
    assert after[:len(before)] == before and after[-1].event == "approval"
    assert verify_registry(sqlite_client, "older").ok
    assert promote("older", version, client=sqlite_client).champion == "1"


def test_an_older_log_that_disagrees_with_its_second_copy_is_not_moved(sqlite_client, rules):
    version = _register(sqlite_client, rules, "split", 50.0)
    lay_out_the_old_way(sqlite_client, "split")
    register = next(event for event in read_events(sqlite_client, "split") if event.event == "register")
    edited = register.model_copy(update={"actor": "mallory"})
    sqlite_client.mlflow.set_registered_model_tag("split", audit_key(register.seq), edited.to_json_line())
    with pytest.raises(Refused, match=r"event #2 differs between split and split-audit \(edited\); split: its audit "
                                      r"tags are not moved to split-audit-copy while the log fails its check"):
        approve("split", version, reviewer="bob", comment="fine", client=sqlite_client)
    assert audit_keys(sqlite_client, "split") == [audit_key(1), audit_key(2)]
    assert not load_log(sqlite_client, "split").first_copy_exists
    assert read_audit_copy(sqlite_client, "split")[1] == register


@pytest.mark.parametrize("cut", ["copied part", "deleted part"])
def test_a_move_cut_short_reads_as_one_log_and_the_next_append_finishes_it(sqlite_client, rules, cut):
    model = f"cut-{cut.split()[0]}"
    version = _register(sqlite_client, rules, model, 50.0)
    before = _both_copies(sqlite_client, model)
    lay_out_the_old_way(sqlite_client, model)
    sqlite_client.mlflow.create_registered_model(audit_copy_name(model))
    if cut == "copied part":  # the crash came while copying: the first event only is in the new place
        sqlite_client.mlflow.set_registered_model_tag(audit_copy_name(model), audit_key(1), before[0].to_json_line())
    else:  # while deleting: all copied, the first event already gone from the old place
        for event in before:
            sqlite_client.mlflow.set_registered_model_tag(audit_copy_name(model), audit_key(event.seq),
                                                          event.to_json_line())
        sqlite_client.mlflow.delete_registered_model_tag(model, audit_key(1))
    log = load_log(sqlite_client, model)
    assert log.problems == [] and log.events == before and log.on_production
    approve(model, version, reviewer="bob", comment="fine", client=sqlite_client)
    assert audit_keys(sqlite_client, model) == []
    assert [event.event for event in _both_copies(sqlite_client, model)] == ["init", "register", "approval"]


def test_a_crash_between_the_copies_is_healed_and_any_other_difference_is_tampering(sqlite_client, rules):
    version = _register(sqlite_client, rules, "crash", 50.0)
    register = read_events(sqlite_client, "crash")[-1]
    # The first copy was written, the second not: one event short, which is not a finding.
    sqlite_client.mlflow.delete_registered_model_tag(audit_model_name("crash"), audit_key(register.seq))
    log = load_log(sqlite_client, "crash")
    assert log.problems == [] and log.copy_missing_tail == [register]
    approve("crash", version, reviewer="bob", comment="fine", client=sqlite_client)
    assert [event.event for event in _both_copies(sqlite_client, "crash")] == ["init", "register", "approval"]

    edited = register.model_copy(update={"actor": "mallory"})
    sqlite_client.mlflow.set_registered_model_tag(audit_copy_name("crash"), audit_key(register.seq),
                                                  edited.to_json_line())
    problems = load_log(sqlite_client, "crash").problems
    assert f"event #{register.seq} differs between crash-audit-copy and crash-audit (edited)" in problems
    assert f"crash audit log: event #{register.seq} (register) was edited: its hash does not match" in problems


def test_repair_of_an_older_registry_mends_and_moves_the_log(sqlite_client, rules):
    _register(sqlite_client, rules, "mend", 50.0)
    register = read_events(sqlite_client, "mend")[-1]
    lay_out_the_old_way(sqlite_client, "mend")
    sqlite_client.mlflow.delete_registered_model_tag(audit_model_name("mend"), audit_key(register.seq))
    sqlite_client.mlflow.set_registered_model_tag(audit_model_name("mend"), audit_key(1), "{edited")
    assert verify_registry(sqlite_client, "mend").chain_problems  # the second copy is broken
    event = repair_registry("mend", reason="restore the second copy", client=sqlite_client)
    assert event.details["lost"] == [] and audit_keys(sqlite_client, "mend") == []
    events = _both_copies(sqlite_client, "mend")
    assert [e.event for e in events] == ["init", "register", "repair"] and events[1] == register
    assert verify_registry(sqlite_client, "mend").ok


def test_an_older_registry_never_takes_an_event_only_its_first_copy_model_holds(sqlite_client, rules):
    """Before the move the first-copy model is not known to be the registry's (a user may have
    made it when the name was not yet kept for the gate): an event found only there is named,
    never read into the log nor copied into the second copy as a crash's missing tail."""
    version = _register(sqlite_client, rules, "planted", 50.0)
    lay_out_the_old_way(sqlite_client, "planted")
    before = read_events(sqlite_client, "planted")
    planted = before[-1].model_copy(update={"seq": before[-1].seq + 1, "prev_hash": before[-1].hash,
                                            "event": "approval", "version": version, "actor": "bob"})
    planted.hash = planted.compute_hash()
    sqlite_client.mlflow.create_registered_model(audit_copy_name("planted"))
    sqlite_client.mlflow.set_registered_model_tag(audit_copy_name("planted"), audit_key(planted.seq),
                                                  planted.to_json_line())
    assert read_events(sqlite_client, "planted") == before
    log = load_log(sqlite_client, "planted")
    assert log.copy_missing_tail == [] and (f"planted-audit-copy: event #{planted.seq} is in neither planted nor "
                                            "planted-audit (not written by the registry)") in log.problems
    with pytest.raises(Refused, match="not written by the registry"):
        promote("planted", version, client=sqlite_client)
    assert read_audit_copy(sqlite_client, "planted") == before
