"""Decoding presets: `official` is upstream's sampling (T 1.0, top-p 0.9, top-k from the base
model's generation config, repetition penalty 1.0 explicit, 1200 new tokens), seeded and
reproducible; `greedy` never inherits the base model's repetition penalty."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from model_testkit import random_features
from typer.testing import CliRunner

from affectgpt.model.decoding import decoding_settings
from affectgpt.model.generation import DEFAULT_MAX_NEW_TOKENS, generate_texts
from affectgpt.model.store import LoadedModel, save_model_dir

SUBTITLES = ["Of course.", "Don't talk to me.", "Last night, I forgot to thank you properly."]


def _features(n):
    batch = random_features(n, seed=5)
    return [{key: value[i] for key, value in batch.items()} for i in range(n)]


def test_official_preset_is_upstreams_sampling_with_the_base_top_k(tiny_model):
    tiny_model.llm.generation_config.top_k = 20
    settings = decoding_settings("official", tiny_model.llm)
    assert settings == {"do_sample": True, "num_beams": 1, "temperature": 1.0, "top_p": 0.9, "top_k": 20,
                        "repetition_penalty": 1.0, "length_penalty": 1.0, "min_length": 1}
    assert decoding_settings("greedy") == {"do_sample": False, "num_beams": 1, "repetition_penalty": 1.0}
    assert DEFAULT_MAX_NEW_TOKENS == 1200
    with pytest.raises(ValueError, match="decoding preset"):
        decoding_settings("beam")


def test_official_sampling_is_seeded_and_greedy_ignores_the_base_repetition_penalty(tiny_model, tiny_tokenizer,
                                                                                    tiny_config):
    loaded = LoadedModel(model=tiny_model, tokenizer=tiny_tokenizer, config=tiny_config, metadata={})
    features = _features(len(SUBTITLES))
    first = generate_texts(loaded, SUBTITLES, features, "description", max_new_tokens=12, decoding="official", seed=1)
    again = generate_texts(loaded, SUBTITLES, features, "description", max_new_tokens=12, decoding="official", seed=1)
    other = generate_texts(loaded, SUBTITLES, features, "description", max_new_tokens=12, decoding="official", seed=2)
    greedy = generate_texts(loaded, SUBTITLES, features, "description", max_new_tokens=12)
    assert first == again and first != other and first != greedy
    tiny_model.llm.generation_config.repetition_penalty = 1.5  # what a base model could ship
    try:
        assert generate_texts(loaded, SUBTITLES, features, "description", max_new_tokens=12) == greedy
    finally:
        tiny_model.llm.generation_config.repetition_penalty = 1.0


def test_infer_cli_names_the_preset_in_every_line_and_the_manifest(tiny_model, tiny_tokenizer, tmp_path):
    from affectgpt.cli import app

    model_dir = save_model_dir(tiny_model, tiny_tokenizer, tmp_path / "model")
    data = tmp_path / "data"
    data.mkdir()
    pd.DataFrame({"clip_id": ["a", "b"], "subtitle": SUBTITLES[:2], "split": ["test", "test"]}).to_parquet(
        data / "records.parquet")
    out = tmp_path / "preds" / "mer2023.jsonl"
    result = CliRunner().invoke(app, ["infer", "--model", str(model_dir), "--data", str(data), "--out", str(out),
                                      "--decoding", "official", "--max-new-tokens", "6", "--seed", "3"])
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert [line["decoding"] for line in lines] == ["official", "official"]
    manifest = json.loads((out.parent / "manifest.json").read_text())
    decoding = manifest["parameters"]["decoding"]
    assert decoding["preset"] == "official" and decoding["seed"] == 3 and decoding["top_p"] == 0.9
    assert decoding["repetition_penalty"] == 1.0 and decoding["max_new_tokens"] == 6
    again = tmp_path / "again" / "mer2023.jsonl"
    CliRunner().invoke(app, ["infer", "--model", str(model_dir), "--data", str(data), "--out", str(again),
                             "--decoding", "official", "--max-new-tokens", "6", "--seed", "3"])
    assert again.read_text() == out.read_text()  # seeded: reproducible
