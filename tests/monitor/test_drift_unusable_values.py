"""Values that say nothing about a distribution must not pass for drift: clips without a
prediction are a rate of their own (not a label category), garbled texts are left out of the
text tests and counted on their own, and +-inf is treated as NaN. Batches are written as the
README writes them (features Parquet + an `affectgpt infer` JSONL joined on clip_id)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from affectgpt.cli import app
from affectgpt.monitor import drift_report

LABELS = ["happy", "sad", "angry", "neutral"]
GARBLED_OUTPUT = "TheVisual\x1d,ey mid). arrive said 8ni speaker257the\ufffd"


def _config(tmp_path: Path, **sections: dict) -> Path:
    """Only the columns under test, the content classifier off unless asked (it is tested below)."""
    path = tmp_path / "monitoring.yaml"
    body = {"columns": {"metadata": ["duration_s", "fps"], "embeddings": [], "text": ["subtitle"],
                        "predictions": ["predicted_label", "ov_labels"]},
            "text": {"content_drift": False, "descriptors": ["length", "non_letter_share"]}}
    for key, value in sections.items():
        body[key] = {**body.get(key, {}), **value}
    path.write_text(yaml.safe_dump(body))
    return path


def _write_batch(folder: Path, name: str, n_clips: int, unanswered: float, garbled: float, seed: int) -> str:
    """features.parquet + preds.jsonl as the README writes them: `unanswered` of the clips have
    no prediction line, `garbled` of them a line whose output no label could be read from; the
    answered clips' labels follow the same distribution in every batch."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    clip_ids = [f"{name}_{i:03d}" for i in range(n_clips)]
    pd.DataFrame({"clip_id": clip_ids, "duration_s": rng.normal(4.0, 1.0, n_clips),
                  "fps": rng.normal(25.0, 1.0, n_clips)}).to_parquet(folder / f"{name}.parquet")
    order = rng.permutation(n_clips)
    n_unanswered, n_garbled = round(n_clips * unanswered), round(n_clips * garbled)
    lines = []
    for rank, index in enumerate(order):
        if rank < n_unanswered:
            continue
        labels = [] if rank < n_unanswered + n_garbled else list(rng.choice(LABELS, size=int(rng.integers(1, 3)),
                                                                             replace=False))
        output = GARBLED_OUTPUT if not labels else f"The character's emotional state is {', '.join(labels)}."
        lines.append(json.dumps({"clip_id": clip_ids[index], "dataset": "local", "prompt_type": "ov",
                                 "decoding": "greedy", "output": output, "extracted_labels": labels}))
    (folder / f"{name}.jsonl").write_text("\n".join(lines) + "\n")
    return f"{folder / name}.parquet+{folder / name}.jsonl"


def test_missing_predictions_are_a_rate_not_a_label_category(tmp_path: Path) -> None:
    """Same labels among the answered clips; 10 % vs 25 % of the clips without a prediction (a
    rise a 40-clip batch cannot establish): the label checks compare answered clips only and
    nothing drifts. Before, the missing clips were a label '<null>' and every prediction check
    drifted."""
    reference = _write_batch(tmp_path / "ref", "ref", 60, unanswered=0.05, garbled=0.05, seed=0)
    current = _write_batch(tmp_path / "cur", "cur", 40, unanswered=0.15, garbled=0.10, seed=1)

    summary = drift_report(reference, current, tmp_path / "out", config_path=_config(tmp_path))

    checks = {check.column: check for check in summary.columns}
    for column in ("predicted_label", "ov_labels.top", "ov_labels.count"):
        assert not checks[column].drifted, checks[column]
    assert (checks["predicted_label"].n_reference, checks["predicted_label"].n_current) == (54, 30)  # answered
    missing = checks["predictions.missing_share"]
    assert missing.kind == "missing_rate" and missing.group == "predictions" and not missing.drifted
    assert (missing.reference_share, missing.current_share) == (pytest.approx(6 / 60), pytest.approx(10 / 40))
    assert missing.threshold == 0.05 and missing.statistic < missing.threshold
    assert not summary.groups["predictions"].triggered and summary.retrain is False
    assert any(note.startswith("predictions.missing_share: clips without a prediction: 6 of 60")
               for note in summary.notes), summary.notes


def test_a_rise_of_missing_predictions_fires_its_own_check_with_its_own_threshold(tmp_path: Path) -> None:
    reference = _write_batch(tmp_path / "ref", "ref", 80, unanswered=0.05, garbled=0.0, seed=0)
    current = _write_batch(tmp_path / "cur", "cur", 80, unanswered=0.30, garbled=0.25, seed=1)

    fired = drift_report(reference, current, tmp_path / "a", config_path=_config(tmp_path))
    tolerant = drift_report(reference, current, tmp_path / "b",
                            config_path=_config(tmp_path, missing_predictions={"max_increase": 0.6}))

    missing = {check.column: check for check in fired.columns}["predictions.missing_share"]
    assert missing.drifted and missing.statistic > 0.3, missing  # 5 % -> 55 %: at least 30 points
    assert not any(c.drifted for c in fired.columns if c.column in ("predicted_label", "ov_labels.top"))
    assert fired.groups["predictions"].drifted == 1  # one check of the group, as any other check
    assert not {check.column: check for check in tolerant.columns}["predictions.missing_share"].drifted


def test_too_few_answers_skip_the_label_checks_saying_why(tmp_path: Path) -> None:
    """The README's 12-clip batch: 2 answered clips cannot carry a label distribution."""
    reference = _write_batch(tmp_path / "ref", "ref", 24, unanswered=0.6, garbled=0.1, seed=0)
    current = _write_batch(tmp_path / "cur", "cur", 12, unanswered=0.75, garbled=0.1, seed=1)

    summary = drift_report(reference, current, tmp_path / "out", config_path=_config(tmp_path))

    skipped = {item.column: item for item in summary.skipped}
    assert skipped["predicted_label"].reason == "too_few_answered"
    assert "predictions.missing_share" in skipped["predicted_label"].detail
    assert {"predictions.missing_share"} <= {c.column for c in summary.columns}
    assert not summary.drifted_columns and summary.retrain is False


# -- text: garbled rows are counted on their own, not read as a change of the text ------------

SUBJECTS = ["I", "we", "you", "they", "my brother", "the teacher", "our team", "she", "he", "the old man"]
VERBS = ["really like", "cannot stand", "keep thinking about", "finally finished", "never understood",
         "talked about", "waited for", "laughed at", "worried about", "remembered"]
OBJECTS = ["the movie", "that song", "the long trip", "this weekend", "the new job", "her letter",
           "the final game", "dinner with friends", "the rainy morning", "my old car"]
OTHER_OBJECTS = ["the quarterly budget review with the regional finance committee",
                 "the scheduled server downtime over the long holiday weekend",
                 "the compliance audit of the procurement department", "the invoice numbers of last year",
                 "the shipping schedule for the northern warehouses", "the database migrations planned for spring"]
ENDINGS = [".", "!", "?", ", to be honest.", ", you know.", " again."]


def _subtitles(seed: int, n_rows: int, garbled_share: float = 0.0, objects: list[str] = OBJECTS) -> pd.DataFrame:
    """Everyday sentences; the first `garbled_share` of them garbled the way a small decoder
    garbles (stray control bytes, U+FFFD, fused words)."""
    rng = np.random.default_rng(seed)
    texts = [f"{rng.choice(SUBJECTS)} {rng.choice(VERBS)} {rng.choice(objects)}{rng.choice(ENDINGS)}".capitalize()
             for _ in range(n_rows)]
    for index in range(round(n_rows * garbled_share)):
        chars = list(texts[index].replace(" ", "", 2))
        for token in ("\ufffd", "\x1d", "#~", "257"):
            chars.insert(int(rng.integers(len(chars))), token)
        texts[index] = "".join(chars)
    return pd.DataFrame({"clip_id": [f"c{seed}_{i}" for i in range(n_rows)], "subtitle": texts})


TEXT_CONFIG = {"columns": {"metadata": [], "embeddings": [], "text": ["subtitle"], "predictions": []},
               "text": {"content_drift": True, "descriptors": ["length", "words", "non_letter_share"]}}


def test_garbled_rows_in_an_unchanged_batch_do_not_fire_the_text_checks(tmp_path: Path) -> None:
    """The same sentences, a fifth of the current ones garbled: the content classifier and the
    descriptors compare readable texts and do not fire; the garbled share (0 % -> 20 %) is its own
    check. Before, the garbage moved the non-letter share into 'drift'."""
    config = tmp_path / "monitoring.yaml"
    config.write_text(yaml.safe_dump(TEXT_CONFIG))

    summary = drift_report(_subtitles(0, 120), _subtitles(1, 120, garbled_share=0.2), tmp_path / "out",
                           config_path=config)

    checks = {check.column: check for check in summary.columns}
    text_tests = ["subtitle", "subtitle.length", "subtitle.words", "subtitle.non_letter_share"]
    assert not any(checks[name].drifted for name in text_tests), [checks[name] for name in text_tests]
    assert checks["subtitle.non_letter_share"].n_current == 96  # the 24 garbled texts are left out
    assert checks["subtitle"].threshold is not None and 0.5 < checks["subtitle"].threshold < 1  # the real AUC bar
    garbled = checks["subtitle.garbled_share"]
    assert garbled.kind == "garbled_rate" and (garbled.reference_share, garbled.current_share) == (0.0, 0.2)
    assert garbled.drifted  # reported as what it is: more garbled text, not another text distribution
    assert not summary.groups["text"].triggered  # 1 of 5 text checks
    assert any(note.startswith("subtitle.garbled_share: garbled subtitle: 0 of 120") for note in summary.notes)


def test_changed_text_fires_the_text_checks_through_garbled_rows(tmp_path: Path) -> None:
    config = tmp_path / "monitoring.yaml"
    config.write_text(yaml.safe_dump(TEXT_CONFIG))

    summary = drift_report(_subtitles(0, 120, garbled_share=0.1),
                           _subtitles(1, 120, garbled_share=0.1, objects=OTHER_OBJECTS), tmp_path / "out",
                           config_path=config)

    checks = {check.column: check for check in summary.columns}
    assert checks["subtitle"].drifted and checks["subtitle"].statistic > checks["subtitle"].threshold
    assert checks["subtitle.length"].drifted and checks["subtitle.words"].drifted
    assert not checks["subtitle.garbled_share"].drifted  # 10 % in both
    assert summary.groups["text"].triggered


# -- +-inf is NaN ------------------------------------------------------------------------------

def _numeric(seed: int, n_rows: int = 60) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"clip_id": [f"c{seed}_{i}" for i in range(n_rows)],
                         "duration_s": rng.normal(4.0, 1.0, n_rows), "fps": rng.normal(25.0, 1.0, n_rows)})


def test_an_all_inf_column_is_skipped_like_an_all_nan_one(tmp_path: Path) -> None:
    """`drift report` on a column of only +-inf: skipped as all_missing, the report written, exit
    0, no traceback. Before, Evidently's test crashed on the emptied column and nothing was written."""
    reference = _numeric(0)
    current = _numeric(1).assign(fps=np.where(np.arange(60) % 2 == 0, np.inf, -np.inf))
    reference.to_parquet(tmp_path / "ref.parquet")
    current.to_parquet(tmp_path / "cur.parquet")

    result = CliRunner().invoke(app, ["drift", "report", "--reference", str(tmp_path / "ref.parquet"),
                                      "--current", str(tmp_path / "cur.parquet"), "--out", str(tmp_path / "out"),
                                      "--config", str(_config(tmp_path))])

    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output and "all_missing" in result.output
    written = json.loads((tmp_path / "out" / "drift.json").read_text())
    assert {"column": "fps", "reason": "all_missing"}.items() <= next(
        s for s in written["skipped"] if s["column"] == "fps").items()
    nan_summary = drift_report(reference, current.assign(fps=np.nan), tmp_path / "nan", config_path=_config(tmp_path))
    assert {s.column: s.reason for s in nan_summary.skipped}["fps"] == "all_missing"
    assert [c.model_dump() for c in nan_summary.columns] == written["columns"]
    both = drift_report(reference.assign(fps=np.inf), current, tmp_path / "both", config_path=_config(tmp_path))
    assert {s.column: s.reason for s in both.skipped}["fps"] == "all_missing"


def test_mixed_inf_values_are_left_out_like_nan(tmp_path: Path) -> None:
    reference, current = _numeric(0), _numeric(1)
    holes = np.arange(60) % 4 == 0
    with_inf = current.assign(duration_s=np.where(holes, np.inf, current["duration_s"]),
                              fps=np.where(holes, -np.inf, current["fps"]))
    with_nan = current.assign(duration_s=np.where(holes, np.nan, current["duration_s"]),
                              fps=np.where(holes, np.nan, current["fps"]))

    inf_summary = drift_report(reference, with_inf, tmp_path / "inf", config_path=_config(tmp_path))
    nan_summary = drift_report(reference, with_nan, tmp_path / "nan", config_path=_config(tmp_path))

    assert [c.model_dump() for c in inf_summary.columns] == [c.model_dump() for c in nan_summary.columns]
    duration = {c.column: c for c in inf_summary.columns}["duration_s"]
    assert (duration.n_reference, duration.n_current) == (60, 45)
