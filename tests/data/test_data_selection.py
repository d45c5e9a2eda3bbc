"""Describer selection on a small human-labelled pilot set: the six demo clips with their gold
open-vocabulary labels. Candidates: the built-in `acoustic` and `fer`, and an `hf` audio
describer on a tiny random-init causal LM."""

from __future__ import annotations

import shutil

import pandas as pd
import pytest
import yaml
from data_testkit import fast_config

from affectgpt.data.config import HFDescriberConfig
from affectgpt.data.ingest import IngestError
from affectgpt.data.selection import select_describers


def test_select_describers_scores_every_candidate_and_keeps_the_best(demo_corpus, tiny_lm, tmp_path):
    config = fast_config(tmp_path / "cache")
    config.describers.hf = [HFDescriberConfig(name="tiny-text", model_path=str(tiny_lm), modality="audio",
                                              max_new_tokens=8)]
    choices, table = select_describers(demo_corpus / "raw", config, config.cache_dir, tmp_path / "report")
    assert sorted(table["describer"]) == ["acoustic", "fer", "tiny-text"]
    assert set(table["n_pilot"]) == {6}  # every pilot clip has gold labels
    scores = dict(zip(table["describer"], table["ov_fs"]))
    assert 0 < scores["acoustic"] <= 1 and 0 < scores["fer"] <= 1
    # random weights write no emotion words: nothing to score (NaN) or a lower score, never the pick
    assert not scores["tiny-text"] >= scores["acoustic"]
    for modality, group in table.groupby("modality"):  # the choice is the best OV Fs of its modality
        assert choices[modality] == group.sort_values("ov_fs", ascending=False).iloc[0]["describer"]
    assert choices == {"audio": "acoustic", "visual": "fer"}
    written = pd.read_csv(tmp_path / "report" / "describer_selection.csv")
    assert list(written["describer"]) == list(table["describer"])
    report = (tmp_path / "report" / "describer_selection.md").read_text()
    assert f"{choices['audio']} (chosen)" in report and "fer (chosen)" in report
    # the clues were cached: a second selection gives the same scores without re-describing
    again_choices, again = select_describers(demo_corpus / "raw", config, config.cache_dir)
    assert again_choices == choices and again["ov_fs"].equals(table["ov_fs"])


def test_select_describers_cli_and_a_pilot_without_gold_labels(demo_corpus, tmp_path):
    from typer.testing import CliRunner

    from affectgpt.cli import app

    config_path = tmp_path / "build.yaml"
    config_path.write_text(yaml.safe_dump({"cache_dir": str(tmp_path / "cache")}))
    unlabelled = tmp_path / "unlabelled"
    shutil.copytree(demo_corpus / "raw", unlabelled)
    (unlabelled / "labels.csv").unlink()
    result = CliRunner().invoke(app, ["build", "select-describers", str(unlabelled), "--out", str(tmp_path / "r"),
                                      "--config", str(config_path)])
    assert result.exit_code == 2 and "no pilot clips with gold ov_labels" in " ".join(result.output.split())
    assert "Traceback" not in result.output
    result = CliRunner().invoke(app, ["build", "select-describers", str(demo_corpus / "raw"), "--out",
                                      str(tmp_path / "r"), "--config", str(config_path)])
    assert result.exit_code == 0, result.output
    output = " ".join(result.output.split())
    assert "describers.audio: acoustic" in output and "describers.visual: fer" in output
    assert (tmp_path / "r" / "describer_selection.md").is_file()


def test_select_describers_rejects_a_missing_pilot(tmp_path):
    config = fast_config(tmp_path / "cache")
    with pytest.raises(IngestError, match="no-such-pilot: no such folder or clip manifest"):
        select_describers(tmp_path / "no-such-pilot", config, config.cache_dir)
