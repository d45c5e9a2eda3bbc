"""The description of a candidate version, in markdown: what a person reads on its MLflow page.

The tags stay few (see `records`); this text carries the scores in percent, the advisory gate
verdict with its reasons, and the lineage, and says where the rest lives (the audit log for
decisions, the `affectgpt.state` tag for machines). It is written once, in the create call, as
the pipeline identity cannot edit a version later. MLflow keeps at most 5000 characters.
"""

from __future__ import annotations

from typing import Any

from affectgpt.registry.gate import GateResult, PromotionConfig

MAX_DESCRIPTION_CHARS = 4800
EXTRA_WORDS = {"affectgpt.unibench_rev": "MER-UniBench test sets"}


def version_description(model_name: str, record: dict[str, Any], gate: GateResult,
                        rules: PromotionConfig | None, extra: dict[str, str] | None = None) -> str:
    """Markdown for a new candidate version of `model_name` from its registration record."""
    from affectgpt.formatting import difference_words, points, points_interval
    from affectgpt.templates import render

    scores = record.get("scores") or {}
    required = list(rules.required_datasets) if rules and rules.required_datasets else sorted(scores)
    text = render(
        "version_description.md.j2",
        model=model_name,
        verdict=gate.verdict,
        champion=f"champion v{gate.champion_version}" if gate.champion_version else "no champion (absolute rules only)",
        scorer=record.get("scorer_mode") or "not recorded",
        scores=_score_rows(scores, gate),
        mean=points(gate.candidate_mean),
        mean_interval=points_interval(gate.mean_interval),
        baseline_mean=points(gate.baseline_mean),
        baseline_difference=difference_words(gate.baseline_difference),
        n_mean=len([name for name in required if name in scores]),
        reasons=gate.reasons,
        manual=bool(record.get("manual")),
        record=record,
        authenticated="authenticated by the MLflow server" if record.get("authenticated") else
        "name claimed on a local store, not authenticated",
        extra=[(EXTRA_WORDS.get(key, key.removeprefix("affectgpt.")), value)
               for key, value in sorted((extra or {}).items())],
    )
    if len(text) > MAX_DESCRIPTION_CHARS:
        text = text[:MAX_DESCRIPTION_CHARS - 60].rsplit("\n", 1)[0] + "\n\n(shortened: see `affectgpt registry review`)"
    return text


def _score_rows(scores: dict[str, float], gate: GateResult) -> list[dict[str, str]]:
    """Per set in Table 2's order: display name and id, score, n, interval, baseline, paper."""
    from affectgpt.bench.datasets import display_name
    from affectgpt.formatting import MISSING, points, points_interval
    from affectgpt.registry.gate_evidence import set_order

    shown = {row["dataset"]: row for row in gate.sets}
    rows = []
    for name in set_order(list(scores)):
        row = shown.get(name, {})
        rows.append({"name": f"{display_name(name)} ({name})", "score": points(scores[name]),
                     "n": MISSING if row.get("n") is None else str(row["n"]),
                     "interval": points_interval(row.get("interval"))
                     + (" too few clips to compare" if row.get("too_few") else ""),
                     "baseline": points(row.get("baseline")), "paper": points(row.get("paper"))})
    return rows
