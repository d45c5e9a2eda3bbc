"""`affectgpt infer` refuses an unknown split or dataset name, listing the valid ones, before it
loads a model: a typo must not write zero predictions and exit 0."""

from __future__ import annotations

from typer.testing import CliRunner

from affectgpt.cli import app


def test_unknown_split_is_refused_with_the_valid_ones(tmp_path):
    result = CliRunner().invoke(app, ["infer", "--model", str(tmp_path / "model"), "--data", str(tmp_path),
                                      "--split", "tset", "--out", str(tmp_path / "p.jsonl")])
    assert result.exit_code == 2, result.output
    assert "unknown split(s) 'tset'" in result.output and "train, val, test" in result.output
    assert not (tmp_path / "p.jsonl").exists()


def test_unknown_dataset_and_prompt_are_refused(tmp_path):
    result = CliRunner().invoke(app, ["infer", "--model", str(tmp_path / "model"), "--data", str(tmp_path),
                                      "--dataset", "mer2030"])
    assert result.exit_code == 2 and "unknown dataset 'mer2030'" in result.output and "mer2023" in result.output
    prompt = CliRunner().invoke(app, ["infer", "--model", str(tmp_path / "model"), "--data", str(tmp_path),
                                      "--prompt", "emotions"])
    assert prompt.exit_code == 2 and "ov" in prompt.output and "description" in prompt.output
