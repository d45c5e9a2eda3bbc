"""The reviewer's view of a candidate: scores against the champion per dataset, the gate
verdict (re-run against the champion in place now), lineage, and an HTML report with a chart.

Reviewing recomputes the gate from the registered evidence (the bench report, re-hashed) with
the rules stored with the production model, against the champion in place now, and logs it.
"""

from __future__ import annotations

import base64
import html
import io
from datetime import UTC, datetime
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from affectgpt.paths import workspace_dir
from affectgpt.registry.connection import RegistryClient
from affectgpt.registry.gate import GateResult
from affectgpt.registry.records import NO_CHAMPION, VersionInfo, load_version


class ReviewResult(BaseModel):
    """Everything the review shows, plus where the HTML report was written."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    candidate: VersionInfo
    champion: VersionInfo | None
    gate: GateResult
    verdict_changed: bool
    report_path: Path

    def rows(self) -> list[tuple[str, float | None, float | None, float | None]]:
        """(dataset, candidate, champion, delta) for every dataset either side scored."""
        champion_scores = self.champion.scores if self.champion else {}
        names = sorted(set(self.candidate.scores) | set(champion_scores))
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
    from affectgpt.registry.audit import try_append_event
    from affectgpt.registry.errors import Refused
    from affectgpt.registry.governance import require_clean
    from affectgpt.registry.promotion import evidence_gate
    from affectgpt.registry.register import intake

    client = client or RegistryClient(tracking_uri)
    identity = client.identity(reviewer)
    candidate = load_version(client, model_name, version)
    state = require_clean(client, model_name, "review").state
    if candidate.version not in state.registered and intake(client, model_name, candidate.version, identity):
        state = require_clean(client, model_name, "review").state
    champion_candidate = state.champion_candidate()
    is_champion = champion_candidate == candidate.version
    champion = (
        load_version(client, model_name, champion_candidate) if champion_candidate and not is_champion else None
    )
    if candidate.version in state.registered and not is_champion:
        try:
            gate = evidence_gate(client, state, candidate.version)
        except Refused as error:
            gate = GateResult(verdict="fail", reasons=[str(error)], champion_version=state.champion)
    else:
        gate = candidate.gate or GateResult(verdict="no_scores", reasons=["not in the audit log yet"])
    stored = candidate.gate
    verdict_changed = stored is None or (stored.verdict, stored.champion_version) != (gate.verdict, gate.champion_version)
    decision = state.decisions.get(candidate.version, {})
    candidate = candidate.model_copy(update={"approval_status": decision.get("status"),
                                             "approval": decision.get("record")})
    try_append_event(client, model_name, "review", actor=identity, version=candidate.version, details={
        "verdict": gate.verdict, "reasons": gate.reasons, "champion_version": state.champion or NO_CHAMPION,
        "at": datetime.now(UTC).isoformat(timespec="seconds")})
    target_dir = Path(out_dir) if out_dir is not None else workspace_dir() / "reports" / "registry"
    target_dir.mkdir(parents=True, exist_ok=True)
    result = ReviewResult(
        candidate=candidate,
        champion=champion,
        gate=gate,
        verdict_changed=verdict_changed,
        report_path=target_dir / f"{_safe(model_name)}-v{candidate.version}-review.html",
    )
    write_review_html(result)
    return result


def _safe(name: str) -> str:
    return "".join(char if char.isalnum() or char in "-_." else "_" for char in name)


def score_chart_png(result: ReviewResult) -> bytes:
    """Grouped bars, candidate vs champion per dataset (PNG bytes)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = result.rows()
    names = [row[0] for row in rows] or ["(no scores)"]
    figure, axis = plt.subplots(figsize=(max(6.0, 0.9 * len(names) + 2), 4.0), dpi=100)
    positions = list(range(len(names)))
    width = 0.4
    candidate_values = [row[1] if row[1] is not None else 0.0 for row in rows] or [0.0]
    axis.bar(
        [p - width / 2 for p in positions],
        candidate_values,
        width,
        label=f"candidate v{result.candidate.version}",
        color="#2b7bb9",
    )
    if result.champion is not None:
        champion_values = [row[2] if row[2] is not None else 0.0 for row in rows] or [0.0]
        axis.bar(
            [p + width / 2 for p in positions],
            champion_values,
            width,
            label=f"champion v{result.champion.version}",
            color="#b0b0b0",
        )
    axis.set_xticks(positions, names, rotation=30, ha="right")
    axis.set_ylabel("MER-UniBench score")
    axis.set_title(f"{result.candidate.model} v{result.candidate.version}: gate {result.gate.verdict}")
    axis.legend(loc="lower right")
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    plt.close(figure)
    return buffer.getvalue()


def _fmt(value: float | None, signed: bool = False) -> str:
    if value is None:
        return "-"
    return f"{value:+.2f}" if signed else f"{value:.2f}"


def write_review_html(result: ReviewResult) -> Path:
    """A self-contained page (chart embedded) a reviewer can open or attach to a ticket."""
    png = score_chart_png(result)
    result.report_path.with_suffix(".png").write_bytes(png)
    candidate, champion, gate = result.candidate, result.champion, result.gate
    esc = html.escape
    score_rows = "".join(
        f"<tr><td>{esc(name)}</td><td>{_fmt(ours)}</td><td>{_fmt(theirs)}</td>"
        f"<td class='{'neg' if (delta or 0) < 0 else 'pos'}'>{_fmt(delta, signed=True)}</td></tr>"
        for name, ours, theirs, delta in result.rows()
    )
    lineage = {
        "run": candidate.run_id,
        "author": candidate.author,
        "registered by": candidate.registration.get("registered_by"),
        "authenticated": candidate.registration.get("authenticated"),
        "data revision (DVC)": candidate.data_rev,
        "code revision": candidate.code_rev,
        "config hash": candidate.config_hash,
        "scorer mode": candidate.scorer_mode,
        "model source": candidate.source,
        "approval": candidate.approval_status or "none yet",
    }
    lineage_rows = "".join(
        f"<tr><th>{esc(k)}</th><td>{esc(str(v or '-'))}</td></tr>" for k, v in lineage.items()
    )
    reasons = "".join(f"<li>{esc(reason)}</li>" for reason in gate.reasons)
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>Review: {esc(candidate.model)} v{esc(candidate.version)}</title>
<style>body{{font-family:sans-serif;margin:2em;max-width:60em}} table{{border-collapse:collapse;margin:1em 0}}
td,th{{border:1px solid #ccc;padding:.3em .6em;text-align:left}} .pos{{color:#146c2e}} .neg{{color:#b00020}}
.verdict-pass{{color:#146c2e}} .verdict-fail,.verdict-no_scores{{color:#b00020}}</style></head><body>
<h1>{esc(candidate.model)} v{esc(candidate.version)}</h1>
<p>Compared with champion: <b>{esc("v" + champion.version if champion else "none")}</b>.
Gate verdict: <b class="verdict-{esc(gate.verdict)}">{esc(gate.verdict)}</b>
(candidate mean {_fmt(gate.candidate_mean)}, champion mean {_fmt(gate.champion_mean)}, rules {esc(gate.config_hash)}).</p>
<ul>{reasons}</ul>
<img alt="candidate vs champion per dataset" src="data:image/png;base64,{base64.b64encode(png).decode()}">
<h2>Scores</h2>
<table><tr><th>dataset</th><th>candidate</th><th>champion</th><th>delta</th></tr>{score_rows}</table>
<h2>Lineage</h2><table>{lineage_rows}</table>
</body></html>
"""
    result.report_path.write_text(page)
    return result.report_path
