"""A decoding preset or scorer mode that does not exist is refused where it enters, before any
model, test set or registry is touched: at the command line (usage error, exit 2), at a library
entry point (UnknownDecoding / UnknownScorerMode, both BadInput) and at a pipeline input.

Every call below names a model or data folder that does not exist: the error being about the
choice, not the folder, shows the check ran first.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from affectgpt.bench.mode import ScorerModeName, UnknownScorerMode
from affectgpt.cli import app
from affectgpt.errors import BadInput
from affectgpt.model.decoding import Decoding, UnknownDecoding, as_decoding, decoding_settings

runner = CliRunner()


def _refused(args: list[str], option: str, value: str) -> str:
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    text = " ".join(result.output.split())  # rich wraps the usage box
    assert option in text and value in text, text
    return text


@pytest.mark.parametrize("command", [
    ["infer", "--model", "{gone}/model", "--data", "{gone}/data"],
    ["bench", "eval", "--model", "{gone}/model", "--unibench", "{gone}/unibench", "--out", "{gone}/out"],
])
def test_an_unknown_decoding_is_a_usage_error_before_anything_is_read(command: list[str], tmp_path: Path):
    gone = tmp_path / "never-made"
    text = _refused([part.format(gone=gone) for part in command] + ["--decoding", "beam"], "--decoding", "beam")
    assert "greedy" in text and "official" in text
    assert "never-made" not in text  # the folders were never looked at
    assert not gone.exists()


@pytest.mark.parametrize("command", [
    ["bench", "eval", "--model", "{gone}/model", "--out", "{gone}/out"],
    ["bench", "run", "--predictions", "{gone}/preds", "--datasets", "mer2023", "--out", "{gone}/out"],
    ["bench", "score", "--task", "ov", "--input", "{gone}/samples.jsonl"],
])
def test_an_unknown_scorer_mode_is_a_usage_error_before_anything_is_read(command: list[str], tmp_path: Path):
    gone = tmp_path / "never-made"
    text = _refused([part.format(gone=gone) for part in command] + ["--mode", "fancy"], "--mode", "fancy")
    assert "official" in text and "corrected" in text and "never-made" not in text
    assert not gone.exists()


def test_registry_register_refuses_an_unknown_scorer_mode_before_the_registry(tmp_path: Path):
    text = _refused(["registry", "register", "--run-id", "r", "--model", "m", "--score", "mer2023=0.5",
                     "--data-rev", "d", "--code-rev", "c", "--config-hash", "h", "--scorer-mode", "fancy",
                     "--tracking-uri", f"sqlite:///{tmp_path}/never.db"], "--scorer-mode", "fancy")
    assert "corrected" in text
    assert not (tmp_path / "never.db").exists()


def test_library_entry_points_refuse_a_bad_decoding_before_loading(tmp_path: Path):
    from affectgpt.bench.evaluation import evaluate_unibench, predict_test_set
    from affectgpt.train.infer import predict

    gone = tmp_path / "gone"
    with pytest.raises(UnknownDecoding, match="unknown decoding preset 'beam'; use one of greedy, official"):
        predict(gone / "model", gone / "data", tmp_path / "out" / "p.jsonl", decoding="beam")
    with pytest.raises(UnknownDecoding, match="'beam'"):
        evaluate_unibench(gone / "model", gone / "unibench", tmp_path / "out", decoding="beam")
    with pytest.raises(UnknownScorerMode, match="'fancy'"):
        evaluate_unibench(gone / "model", gone / "unibench", tmp_path / "out", mode="fancy")
    with pytest.raises(UnknownDecoding):
        predict_test_set(gone / "model", gone / "unibench", "mer2023", tmp_path / "out", decoding="beam")
    assert not (tmp_path / "out").exists() and not gone.exists()


def test_a_preset_name_becomes_its_enum_once():
    assert as_decoding("official") is Decoding.OFFICIAL and as_decoding(Decoding.GREEDY) is Decoding.GREEDY
    assert issubclass(UnknownDecoding, BadInput) and issubclass(UnknownDecoding, ValueError)
    assert decoding_settings("greedy") == decoding_settings(Decoding.GREEDY)
    assert [d.value for d in Decoding] == ["greedy", "official"]
    assert [m.value for m in ScorerModeName] == ["official", "corrected"]


def test_pipeline_inputs_refuse_an_unknown_decoding_or_scorer_mode_offline():
    from affectgpt.pipeline_inputs import BadPipelineInput, PipelineInput, check_arguments

    declared = {name: PipelineInput(name, "STRING", False, default)
                for name, default in (("decoding", "greedy"), ("scorer_mode", "official"), ("model_name", "m"))}
    assert check_arguments("retrain", declared, {"decoding": "official", "scorer_mode": "corrected"}) == {
        "decoding": "official", "scorer_mode": "corrected"}
    with pytest.raises(BadPipelineInput) as refused:
        check_arguments("retrain", declared, {"decoding": "beam", "scorer_mode": "fancy", "model_name": "any"})
    message = str(refused.value)
    assert "--param decoding=beam: use one of greedy, official" in message
    assert "--param scorer_mode=fancy: use one of official, corrected" in message
