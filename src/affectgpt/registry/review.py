"""The reviewer's view of a candidate: scores against the champion per dataset, the gate
verdict (re-run against the champion in place now), the promotion rules in words, who decided
what and when (from the audit log), lineage, and an HTML report with a chart.

Reviewing recomputes the gate from the registered evidence (the bench report, re-hashed) with
the rules stored with the production model, against the champion in place now, and logs it.
Registry scores are percent already (the unit of the rules), so differences are shown in
percentage points.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from affectgpt.bench.datasets import display_name
from affectgpt.formatting import MISSING, difference_words, is_missing, points, points_interval, utc_time
from affectgpt.paths import workspace_dir
from affectgpt.registry.audit import AuditEvent
from affectgpt.registry.connection import RegistryClient
from affectgpt.registry.gate import GateResult, PromotionConfig
from affectgpt.registry.governance import LogState
from affectgpt.registry.records import NO_CHAMPION, VersionInfo, load_version


class ReviewResult(BaseModel):
    """Everything the review shows, plus where the HTML report was written."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    candidate: VersionInfo
    champion: VersionInfo | None
    gate: GateResult
    verdict_changed: bool
    report_path: Path
    rules: PromotionConfig | None = None
    rules_hash: str | None = None
    history: list[AuditEvent] = Field(default_factory=list)  # the log's events about this candidate

    def rows(self) -> list[tuple[str, float | None, float | None, float | None]]:
        """(dataset, candidate, champion, delta) for every dataset either side scored."""
        champion_scores = self.champion.scores if self.champion else {}
        from affectgpt.registry.gate_evidence import set_order

        names = set_order(sorted(set(self.candidate.scores) | set(champion_scores)))  # Table 2's order
        out = []
        for name in names:
            ours, theirs = self.candidate.scores.get(name), champion_scores.get(name)
            delta = ours - theirs if ours is not None and theirs is not None else None
            out.append((name, ours, theirs, delta))
        return out


def review_version(
    model_name: str,
    version: str | int,
    *,
    out_dir: Path | None = None,
    reviewer: str | None = None,
    client: RegistryClient | None = None,
    tracking_uri: str | None = None,
) -> ReviewResult:
    """Compare a candidate with the current champion, recompute its gate from the registered
    evidence and the stored rules, log the review (reviewers), and write the report."""
    from affectgpt.registry.gate_client import call_gate, governed

    client = client or RegistryClient(tracking_uri)
    identity = client.identity(reviewer)
    candidate = load_version(client, model_name, version)
    if governed(client):  # the gate recomputes from the evidence it froze, and logs the review
        answer = call_gate(client, "review", {"model": model_name, "version": candidate.version})
        gate, state = GateResult.model_validate(answer["gate"]), LogState.model_validate(answer["state"])
    else:
        gate, state = _review_locally(client, model_name, candidate, identity)
    champion_candidate = state.champion_candidate()
    is_champion = champion_candidate == candidate.version
    champion = (
        load_version(client, model_name, champion_candidate) if champion_candidate and not is_champion else None
    )
    stored = candidate.gate
    verdict_changed = stored is None or (stored.verdict, stored.champion_version) != (gate.verdict, gate.champion_version)
    decision = state.decisions.get(candidate.version, {})
    candidate = candidate.model_copy(update={"approval_status": decision.get("status"),
                                             "approval": decision.get("record")})
    from affectgpt.registry.audit import read_events

    history = events_about(read_events(client, model_name), candidate.version, state.production)
    target_dir = Path(out_dir) if out_dir is not None else workspace_dir() / "reports" / "registry"
    target_dir.mkdir(parents=True, exist_ok=True)
    result = ReviewResult(
        candidate=candidate,
        champion=champion,
        gate=gate,
        verdict_changed=verdict_changed,
        report_path=target_dir / f"{_safe(model_name)}-v{candidate.version}-review.html",
        rules=state.rules,
        rules_hash=state.rules_hash,
        history=history,
    )
    write_review_html(result)
    return result


def _review_locally(client: RegistryClient, model_name: str, candidate: VersionInfo,
                    identity) -> tuple[GateResult, LogState]:
    """On a local store: the gate recomputed from the registered evidence, and the review logged."""
    from affectgpt.registry.audit import try_append_event
    from affectgpt.registry.errors import Refused
    from affectgpt.registry.governance import require_clean
    from affectgpt.registry.promotion import evidence_gate
    from affectgpt.registry.register import intake

    state = require_clean(client, model_name, "review").state
    if candidate.version not in state.registered and intake(client, model_name, candidate.version, identity):
        state = require_clean(client, model_name, "review").state
    if candidate.version in state.registered and state.champion_candidate() != candidate.version:
        try:
            gate = evidence_gate(client, state, candidate.version)
        except Refused as error:
            gate = GateResult(verdict="fail", reasons=[str(error)], champion_version=state.champion)
    else:
        gate = candidate.gate or GateResult(verdict="no_scores", reasons=["not in the audit log yet"])
    try_append_event(client, model_name, "review", actor=identity, version=candidate.version, details={
        "verdict": gate.verdict, "reasons": gate.reasons, "champion_version": state.champion or NO_CHAMPION,
        "at": datetime.now(UTC).isoformat(timespec="seconds")})
    return gate, state


def _safe(name: str) -> str:
    return "".join(char if char.isalnum() or char in "-_." else "_" for char in name)


def events_about(events: list[AuditEvent], version: str, production: dict[str, str]) -> list[AuditEvent]:
    """The log's events about candidate `version`: its own, and rollbacks that revoked it."""
    return [event for event in events
            if (event.version == version and event.event != "rollback")
            or (event.event == "rollback" and str(event.details.get("revoked_candidate")) == version)]


def _names(names: list[str]) -> str:
    shown = [display_name(name) for name in names]
    return ", ".join(shown[:-1]) + f" and {shown[-1]}" if len(shown) > 1 else "".join(shown)


def rules_in_words(rules: PromotionConfig) -> list[str]:
    """Each promotion rule as a sentence a reviewer can check the verdict against (scores and
    differences in percentage points, the unit of the rules)."""
    sentences = []
    listed = rules.required_datasets
    if listed:
        count = f"all {len(listed)}" if len(listed) > 1 else "the"
        sentences.append(f"The candidate must score on {count} listed set{'s' if len(listed) > 1 else ''}: "
                         f"{_names(listed)}; the mean is taken over these.")
    else:
        sentences.append("No set is required; the mean is taken over the sets the candidate scored.")
    scope = "Each listed set" if listed else "Each scored set"
    sentences.append(f"{scope} must not drop by more than {points(rules.max_regression)} points vs the champion.")
    sentences.append(f"The mean must beat the champion's mean by at least {points(rules.min_mean_improvement)} "
                     "points.")
    if rules.judge_on_interval:
        sentences.append("Both are judged on the 95 % paired-bootstrap interval of candidate minus champion over "
                         "the clips both answered: the mean's gain on its lower bound; a set's drop fails only "
                         f"when even its upper bound is below -{points(rules.max_regression)}.")
    for name, floor in sorted(rules.min_scores.items()):
        sentences.append(f"{display_name(name)} must score at least {points(floor)}, with or without a champion.")
    if rules.min_mean is not None:
        sentences.append(f"The mean must be at least {points(rules.min_mean)}, with or without a champion.")
    if rules.require_same_scorer_mode:
        sentences.append("Candidate and champion must be scored in the same scorer mode (official and corrected "
                         "scores are not comparable).")
    else:
        sentences.append("Scores from different scorer modes may be compared.")
    if rules.require_authenticated:
        sentences.append("Registration, approval and promotion must each be authenticated by an MLflow server; "
                         "a local store's decisions never promote.")
    else:
        sentences.append("Decisions on a local store (names claimed, not authenticated) may promote.")
    sentences.append("Without a champion only the rules that need no champion apply.")
    return sentences


def _champion(version: Any) -> str:
    return "no champion" if version in (None, "", NO_CHAMPION) else f"champion v{version}"


def event_in_words(event: AuditEvent) -> dict[str, str]:
    """One audit event as (when, who, what) a reviewer reads; the comment or reason included."""
    details = event.details
    who = event.actor + ("" if event.authenticated else " (name claimed, not authenticated)")
    if event.event == "register":
        author = details.get("author")
        what = "registered the candidate" + (f" on behalf of its author {author}" if author and author != event.actor
                                             else "")
    elif event.event == "review":
        what = (f"reviewed it: gate {details.get('verdict', MISSING)} against "
                f"{_champion(details.get('champion_version'))}")
    elif event.event in ("approval", "rejection"):
        verb = "approved" if event.event == "approval" else "rejected"
        what = f"{verb} it against {_champion(details.get('reviewed_against'))}: “{details.get('comment', '')}”"
    elif event.event == "promotion":
        what = (f"promoted it to production v{details.get('production_version')} "
                f"(approved by {details.get('approved_by') or MISSING})")
    elif event.event == "promotion_failed":
        what = f"tried to promote it; the promotion failed: {details.get('error', '')}"
    elif event.event == "rollback":
        reason = details.get("reason") or "no reason given"
        what = (f"revoked its approval by rolling production v{details.get('from')} back to "
                f"v{details.get('to')}: “{reason}”")
    elif event.event.endswith("_refused"):
        what = f"was refused ({event.event.removesuffix('_refused')}): {details.get('reason', '')}"
    else:
        what = event.event.replace("_", " ")
    return {"when": utc_time(event.at), "who": who, "what": what}


def decision_in_words(candidate: VersionInfo, history: list[AuditEvent]) -> str:
    """The standing decision on the candidate with who and when: `approved by bob at ...`."""
    latest = {event.event: event for event in history}
    status = candidate.approval_status
    record = candidate.approval or {}
    if status in ("approved", "rejected"):
        return f"{status} by {record.get('reviewer') or record.get('actor') or MISSING} at {utc_time(record.get('at'))}"
    if status == "revoked":
        rollback = latest.get("rollback")
        approved = f"approved by {record.get('reviewer') or MISSING} at {utc_time(record.get('at'))}"
        if rollback is None:
            return f"revoked ({approved})"
        return (f"revoked by {rollback.actor} at {utc_time(rollback.at)} "
                f"(“{rollback.details.get('reason') or 'no reason given'}”); was {approved}")
    return "none yet"


def score_chart_svg(result: ReviewResult) -> str:
    """Grouped bars, candidate vs champion per dataset, labelled in percent: an inline SVG
    (`affectgpt.charts`), crisp and drawn at the size the page shows it."""
    from affectgpt.charts import LABEL_PT, chart_style, svg_markup

    rows = result.rows()
    names = [display_name(row[0]) for row in rows] or ["(no scores)"]
    with chart_style() as plt:
        figure, axis = plt.subplots(figsize=(max(6.0, 0.95 * len(names) + 2), 4.0))
        positions = list(range(len(names)))
        width = 0.4
        series = [(-width / 2, [row[1] for row in rows] or [None], f"candidate v{result.candidate.version}",
                   "#2b7bb9")]
        if result.champion is not None:
            series.append((width / 2, [row[2] for row in rows] or [None], f"champion v{result.champion.version}",
                           "#b0b0b0"))
        for offset, raws, label, color in series:
            values = [0.0 if is_missing(raw) else raw for raw in raws]
            bars = axis.bar([p + offset for p in positions], values, width, label=label, color=color)
            for bar, value, raw in zip(bars, values, raws):
                axis.text(bar.get_x() + bar.get_width() / 2, value + 1, points(raw), ha="center",
                          fontsize=LABEL_PT, rotation=90 if len(names) > 4 else 0, va="bottom")
        axis.set_xticks(positions, names, rotation=30, ha="right")
        axis.set_ylabel("MER-UniBench score (%)")
        axis.set_ylim(0, 125)
        axis.set_title(f"{result.candidate.model} v{result.candidate.version}: gate {result.gate.verdict}")
        axis.legend(loc="upper right", ncols=2)
        figure.tight_layout()
        return svg_markup(figure, key="review")


def data_revision_label(data_rev: str | None) -> str:
    """Name the data revision for what it is: a DVC revision only when it is one (`dvc:`);
    `sha256:` is a content hash of the folder, not tracked by DVC."""
    if (data_rev or "").startswith("dvc:"):
        return "data revision (DVC)"
    if (data_rev or "").startswith("sha256:"):
        return "data content hash (sha256 of the folder; not DVC-tracked)"
    return "data revision"


def score_rows(result: ReviewResult) -> list[dict[str, Any]]:
    """One row per set, in Table 2's order, named by display name with the id beside it:
    candidate with n and interval, the subtitle-only baseline, the paper, the champion and the
    change (with its paired interval when the gate computed one)."""
    by_name = {row["dataset"]: row for row in result.gate.sets}
    rows = []
    for name, ours, theirs, delta in result.rows():
        row = by_name.get(name, {})
        interval = points_interval(row.get("interval"))
        rows.append({"name": display_name(name), "id": name, "candidate": points(ours),
                     "n": MISSING if row.get("n") is None else str(row["n"]),
                     "interval": interval + (" (too few clips to compare)" if row.get("too_few") else ""),
                     "baseline": points(row.get("baseline")), "paper": points(row.get("paper")),
                     "champion": points(theirs), "delta": points(delta, sign=True),
                     "delta_interval": points_interval(row.get("delta_interval"), sign=True),
                     "drop": delta is not None and delta < 0})
    return rows


def _yes_no(value: Any) -> str:
    return MISSING if value is None else ("yes" if value else "no")


def write_review_html(result: ReviewResult) -> Path:
    """A self-contained page (chart embedded) a reviewer can open or attach to a ticket."""
    from affectgpt.templates import render

    chart = score_chart_svg(result)
    candidate, champion, gate = result.candidate, result.champion, result.gate
    scores = score_rows(result)
    registration = candidate.registration
    lineage = [
        ("training run", candidate.run_id),
        ("author", candidate.author),
        ("registered by", registration.get("registered_by")),
        ("authenticated by a server", _yes_no(registration.get("authenticated"))),
        ("scores from", "typed by hand (never promotable)" if registration.get("manual") else
         registration.get("report_artifact")),
        (data_revision_label(candidate.data_rev), candidate.data_rev),
        ("MER-UniBench test sets revision", gate.lineage.get("unibench_rev")
         or candidate.tags.get("affectgpt.unibench_rev")),
        ("decoding (named by the prediction lines)", gate.lineage.get("decoding")),
        ("code revision", candidate.code_rev),
        ("config hash", candidate.config_hash),
        ("scorer mode", candidate.scorer_mode),
        ("model source", candidate.source),
    ]
    page = render(
        "review.html.j2",
        model=candidate.model,
        version=candidate.version,
        champion=f"v{champion.version}" if champion else "none",
        verdict=gate.verdict,
        verdict_changed=result.verdict_changed,
        reasons=gate.reasons,
        candidate_mean=points(gate.candidate_mean),
        mean_interval=points_interval(gate.mean_interval),
        baseline_mean=points(gate.baseline_mean),
        baseline_difference=difference_words(gate.baseline_difference),
        champion_difference=difference_words(gate.champion_difference),
        champion_mean=points(gate.champion_mean),
        chart=chart,
        scores=scores,
        decision=decision_in_words(candidate, result.history),
        history=[event_in_words(event) for event in result.history],
        rules=rules_in_words(result.rules) if result.rules is not None else [],
        rules_hash=result.rules_hash or MISSING,
        gate_config_hash=gate.config_hash or MISSING,
        lineage=[(what, str(value) if value not in (None, "") else f"{MISSING} not recorded")
                 for what, value in lineage],
    )
    result.report_path.write_text(page, encoding="utf-8")
    return result.report_path
