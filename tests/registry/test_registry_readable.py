"""What a person reads in the MLflow UI: a candidate's tag list is short (one machine tag and
what one filters on), its description says scores in percent, verdict and lineage in words, the
production model explains its audit tags, and decisions are copied there as sentences. The
audit log behind them is checked as before, in the new layout and in the older one."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from registry_testkit import log_training_run

from affectgpt.registry import approve, promote, register_candidate, reject, rollback, verify_registry
from affectgpt.registry.governance import approval_status
from affectgpt.registry.records import TAG_REGISTRATION, TAG_STATE, candidates_name, load_version

RULES = ("required_datasets: [mer2023, meld, ovmerdplus]\nmin_mean_improvement: 0.5\nmax_regression: 2.0\n"
         "min_scores: {}\nmin_mean: 20.0\nrequire_authenticated: false\n")


@pytest.fixture(scope="module")
def rules(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("rules") / "promotion.yaml"
    path.write_text(RULES)
    return path


def _register(client, rules, model, level, author="alice", **overrides):
    folder = Path(client.tracking_uri[len("sqlite:///"):]).parent / "reports"
    folder.mkdir(parents=True, exist_ok=True)
    report = folder / f"report-{time.monotonic_ns()}.json"
    scores = {"mer2023": level, "meld": level, "ovmerdplus": level} | overrides
    report.write_text(json.dumps({"units": "fraction", "mode": "corrected", "datasets": {
        name: {"value": value / 100, "status": "scored"} for name, value in scores.items()}}))
    return register_candidate(log_training_run(client.tracking_uri, author), model, report, data_rev=f"dvc-{level}",
                              code_rev="abc123", config_hash="cfg1", scorer_mode="corrected",
                              promotion_config=rules, client=client, actor=author,
                              extra_tags={"affectgpt.unibench_rev": "sha256:feed"})


def test_version_page_has_few_tags_and_a_readable_description(sqlite_client, rules):
    v1 = _register(sqlite_client, rules, "page", 50.0)
    version = sqlite_client.mlflow.get_model_version(candidates_name("page"), v1.version)
    assert set(version.tags) == {TAG_STATE, "affectgpt.gate.verdict", "affectgpt.data_rev", "affectgpt.code_rev",
                                 "affectgpt.unibench_rev"}
    text = version.description
    assert "advisory gate verdict: **pass** against no champion" in text
    # Display name with the id, score, n, interval, subtitle-only baseline, paper (this report
    # carries only scores, so the columns it lacks read as missing; the paper value is Table 2's).
    assert "| MER2023 (mer2023) | 50.00 | – | – | – | 78.54 |" in text and "| OV-MERD+ (ovmerdplus) | 50.00 |" in text
    assert text.index("MER2023 (mer2023)") < text.index("MELD (meld)") < text.index("OV-MERD+ (ovmerdplus)")
    assert "| **mean over 3 listed sets** | **50.00** | | – | – | |" in text
    assert "author **alice**" in text and "data `dvc-50.0`" in text and "MER-UniBench test sets `sha256:feed`" in text
    assert "{" not in text and "nan" not in text.lower() and "None" not in text
    info = load_version(sqlite_client, "page", v1.version)
    assert info.scores == {"mer2023": 50.0, "meld": 50.0, "ovmerdplus": 50.0} and info.author == "alice"
    assert info.gate.verdict == "pass" and info.gate_config.max_regression == 2.0 and info.reported_mean is None

    production = sqlite_client.mlflow.get_registered_model("page")
    assert "tamper-evident audit log" in production.description
    assert "affectgpt registry history --model page" in production.description


def test_decisions_are_copied_as_sentences_and_checked_against_the_log(sqlite_client, rules):
    v1 = _register(sqlite_client, rules, "said", 50.0)
    approve("said", v1.version, reviewer="bob", comment="first", client=sqlite_client)
    promote("said", v1.version, actor="carol", client=sqlite_client)
    v2 = _register(sqlite_client, rules, "said", 53.0)
    approve("said", v2.version, reviewer="bob", comment="better", client=sqlite_client)
    promote("said", v2.version, actor="carol", client=sqlite_client)
    rollback("said", actor="carol", reason="complaints", client=sqlite_client)
    v3 = _register(sqlite_client, rules, "said", 40.0)
    reject("said", v3.version, reviewer="bob", comment="worse", client=sqlite_client)
    tags = sqlite_client.mlflow.get_registered_model("said").tags
    assert tags[f"affectgpt.approval.{v1.version}"].startswith("approved by bob at 20")
    assert tags[f"affectgpt.approval.{v1.version}"].endswith(" UTC")
    assert tags[f"affectgpt.approval.{v2.version}"].startswith("revoked by carol at ")
    assert tags[f"affectgpt.approval.{v3.version}"].startswith("rejected by bob at ")
    production_copy = sqlite_client.mlflow.get_model_version("said", "2")
    assert "| MER2023 (mer2023) | 53.00 |" in production_copy.description  # the copy keeps the words
    assert verify_registry(sqlite_client, "said").ok

    # A display copy that disagrees with the log is named, whatever its wording.
    sqlite_client.mlflow.set_registered_model_tag("said", f"affectgpt.approval.{v3.version}", "approved by bob")
    problems = verify_registry(sqlite_client, "said").all_problems()
    assert any(f"candidate v{v3.version} says 'approved', the log says 'rejected'" in p for p in problems), problems
    assert approval_status('{"status": "revoked", "by": "carol"}') == "revoked"  # the older JSON copies


def test_older_one_tag_per_field_versions_are_read_and_still_checked(sqlite_client, rules):
    v1 = _register(sqlite_client, rules, "older", 50.0)
    approve("older", v1.version, reviewer="bob", comment="ok", client=sqlite_client)
    name = candidates_name("older")
    state = json.loads(sqlite_client.mlflow.get_model_version(name, v1.version).tags[TAG_STATE])
    # Rewrite the version as the earlier layout stored it: the record on its own tag.
    sqlite_client.mlflow.delete_model_version_tag(name, v1.version, TAG_STATE)
    sqlite_client.mlflow.set_model_version_tag(name, v1.version, TAG_REGISTRATION,
                                               json.dumps(state["registration"], sort_keys=True,
                                                          separators=(",", ":")))
    sqlite_client.mlflow.set_model_version_tag(name, v1.version, "affectgpt.gate.result",
                                               json.dumps(state["gate"]))
    info = load_version(sqlite_client, "older", v1.version)
    assert info.author == "alice" and info.scores["meld"] == 50.0 and info.gate.verdict == "pass"
    assert verify_registry(sqlite_client, "older").ok
    edited = state["registration"] | {"author": "bob"}
    sqlite_client.mlflow.set_model_version_tag(name, v1.version, TAG_REGISTRATION, json.dumps(edited))
    problems = verify_registry(sqlite_client, "older").all_problems()
    assert any("registration record" in problem for problem in problems), problems


def test_an_unreadable_state_tag_is_reported_as_an_edited_record(sqlite_client, rules):
    v1 = _register(sqlite_client, rules, "garbled", 50.0)
    approve("garbled", v1.version, reviewer="bob", comment="ok", client=sqlite_client)
    sqlite_client.mlflow.set_model_version_tag(candidates_name("garbled"), v1.version, TAG_STATE, "{not json")
    problems = verify_registry(sqlite_client, "garbled").all_problems()
    assert any("registration record" in problem for problem in problems), problems


@pytest.mark.parametrize("record", [
    {"author": "alice", "registered_by": "pipeline", "authenticated": True, "run_id": "r1", "data_rev": "dvc:1",
     "code_rev": "abc", "config_hash": "cfg", "scorer_mode": "corrected", "report_artifact": "affectgpt-bench/report.json",
     "report_sha256": "0" * 64, "scores": {"mer2023": 50.0}},
    {"author": "alice", "registered_by": "alice", "authenticated": False, "run_id": "r1", "data_rev": "d",
     "code_rev": "c", "config_hash": "h", "scorer_mode": "official", "manual": True,
     "scores": {"mer2023": 50.0}},
], ids=["report", "manual"])
def test_the_description_is_markdown_mlflow_shows_without_stray_breaks(record):
    """MLflow renders a description as GitHub-flavoured markdown (showdown, flavour `github`),
    where a line break inside a paragraph is a visible break: a wrapped source line shows as a
    sentence cut in two. Each paragraph is one line; tables and lists keep a row per line and
    are set apart by blank lines."""
    from affectgpt.registry.description import version_description
    from affectgpt.registry.gate import GateResult

    gate = GateResult(verdict="fail", reasons=["required dataset meld has no score", "no champion yet"])
    text = version_description("page", record, gate, None, extra={"affectgpt.unibench_rev": "sha256:feed"})
    for block in (block for block in text.split("\n\n") if block.strip()):
        lines = block.strip().splitlines()
        if all(line.startswith("|") for line in lines) or all(line.startswith("- ") for line in lines[1:]):
            continue  # a table, or a lead-in line and its list
        assert len(lines) == 1, f"a paragraph wrapped over {len(lines)} lines: {block!r}"
    assert "Why:\n- required dataset meld has no score\n- no champion yet" in text
