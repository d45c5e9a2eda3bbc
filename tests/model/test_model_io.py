"""Saved model directory round trip, batched vs one-by-one greedy generation, and the MLflow
pyfunc wrapper through a real sqlite-backed MLflow store."""

from __future__ import annotations

import json

import pandas as pd
import pytest
import torch
from model_testkit import random_features
from safetensors.torch import save_file

from affectgpt.model.generation import generate_texts
from affectgpt.model.prompt import PromptEncoder
from affectgpt.model.store import LoadedModel, load_model_dir, save_model_dir

SUBTITLES = ["Of course.", "I don't know! I, I, I don't have experience in this area.", "Don't talk to me.",
             "Last night, I forgot to thank you properly.", "Look, Ouyang is getting married too."]


def _per_clip_features(n: int) -> list[dict[str, torch.Tensor]]:
    batch = random_features(n, seed=3)
    return [{key: value[i] for key, value in batch.items()} for i in range(n)]


@pytest.fixture()
def saved_model(tiny_model, tiny_tokenizer, tmp_path):
    with torch.no_grad():  # make the multimodal side non-trivial too
        for param in tiny_model.projectors.parameters():
            param.add_(0.1)
    return save_model_dir(tiny_model, tiny_tokenizer, tmp_path / "model", metadata={"note": "test"})


def test_model_dir_layout_and_reload_gives_identical_outputs(tiny_model, tiny_tokenizer, saved_model):
    names = {p.name for p in saved_model.iterdir()}
    assert {"config.json", "lora.safetensors", "multimodal.safetensors", "tokenizer", "llm_base"} <= names
    loaded = load_model_dir(saved_model)
    assert json.loads((saved_model / "config.json").read_text())["metadata"] == {"note": "test"}
    encoder = PromptEncoder(tiny_tokenizer, tiny_model.modalities, tiny_model.tokens_per_modality, 256)
    ids = torch.tensor([encoder.prompt_ids(SUBTITLES[1], "description")[0]])
    mask, features = torch.ones_like(ids), random_features(1)
    with torch.no_grad():
        before = tiny_model(ids, mask, features).logits
        after = loaded.model(ids, mask, features).logits
    assert torch.equal(before, after)


def test_batched_greedy_generation_matches_one_by_one(tiny_model, tiny_tokenizer, tiny_config):
    loaded = LoadedModel(model=tiny_model, tokenizer=tiny_tokenizer, config=tiny_config, metadata={})
    features = _per_clip_features(len(SUBTITLES))
    batched = generate_texts(loaded, SUBTITLES, features, "ov", batch_size=8, max_new_tokens=12)
    single = [generate_texts(loaded, [s], [f], "ov", batch_size=1, max_new_tokens=12)[0]
              for s, f in zip(SUBTITLES, features)]
    assert batched == single
    assert len(set(batched)) > 1  # the clips really differ
    assert all("###" not in text for text in batched)


@pytest.mark.integration
def test_pyfunc_round_trip_through_mlflow_sqlite(saved_model, tmp_path, monkeypatch):
    import mlflow

    from affectgpt.model.pyfunc import AffectGPTPyfunc, encode_features, log_model_to_mlflow

    monkeypatch.chdir(tmp_path)
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlflow.db'}")
    experiment = mlflow.create_experiment("pyfunc-test", artifact_location=(tmp_path / "artifacts").as_uri())
    with mlflow.start_run(experiment_id=experiment) as run:
        info = log_model_to_mlflow(saved_model, artifact_path="model")
    features = _per_clip_features(3)
    frame = pd.DataFrame({"clip_id": ["c0", "c1", "c2"], "subtitle": SUBTITLES[:3],
                          "features": [b"", encode_features(features[1]), b""]})
    pyfunc = mlflow.pyfunc.load_model(f"runs:/{run.info.run_id}/model")
    out = pyfunc.predict(frame, params={"prompt": "description", "max_new_tokens": 10})
    assert list(out.columns) == ["clip_id", "prompt_type", "output", "error"]
    assert out["error"].isna().all()
    assert out["prompt_type"].tolist() == ["description"] * 3
    direct = load_model_dir(saved_model)
    zeros = {key: torch.zeros_like(value) for key, value in features[0].items()}
    expected = generate_texts(direct, SUBTITLES[:3], [zeros, features[1], zeros], "description", max_new_tokens=10)
    assert out["output"].tolist() == expected
    assert mlflow.pyfunc.load_model(info.model_uri).predict(frame, params={"prompt": "description", "max_new_tokens": 10}
                                                             )["output"].tolist() == expected
    text_only = pyfunc.predict(frame[["clip_id", "subtitle"]].iloc[[0]], params={"prompt": "description",
                                                                                 "max_new_tokens": 10})
    assert text_only["output"].tolist() == expected[:1]  # features are optional
    shard = tmp_path / "clip1.safetensors"
    save_file({key: value.contiguous() for key, value in features[1].items()}, str(shard))
    path_request = pd.DataFrame({"clip_id": ["c0"], "subtitle": SUBTITLES[:1], "features_path": [str(shard)]})
    served = pyfunc.predict(path_request, params={"prompt": "description", "max_new_tokens": 10})
    assert served["output"].tolist() == expected[:1]  # the signature drops the column: the file is never read
    raw = AffectGPTPyfunc()
    raw.loaded = direct
    with pytest.raises(ValueError, match="features_path is not accepted"):  # and the wrapper refuses it itself
        raw.predict(None, path_request)
    for bad_params, message in (({"max_new_tokens": 100000}, "max_new_tokens=100000 is out of range"),
                                ({"batch_size": 0}, "batch_size=0 is out of range")):
        with pytest.raises(Exception, match=message):
            pyfunc.predict(frame, params={"prompt": "description", **bad_params})
    wrong_width = {key: torch.zeros(4, 3) for key in ("frames", "faces", "audio")}
    refused = pyfunc.predict(pd.DataFrame({"clip_id": ["c0"], "subtitle": ["x"],
                                           "features": [encode_features(wrong_width)]}))
    assert refused["output"].tolist() == [None]  # through MLflow too: the row's reason, not a failed request
    assert refused["error"].tolist() == ["clip c0: frames has shape (4, 3); expected (1..1024, 32)"]
    sampled = pyfunc.predict(frame, params={"prompt": "description", "max_new_tokens": 10, "decoding": "official"})
    assert sampled["output"].tolist() == generate_texts(direct, SUBTITLES[:3], [zeros, features[1], zeros],
                                                        "description", max_new_tokens=10, decoding="official")
    assert not list(tmp_path.rglob("*.pkl"))  # models-from-code: nothing pickled in the artifact


def _pyfunc(loaded: LoadedModel):
    from affectgpt.model.pyfunc import AffectGPTPyfunc

    pyfunc = AffectGPTPyfunc()
    pyfunc.loaded = loaded  # what load_context sets from the logged model folder
    return pyfunc


def test_pyfunc_refuses_a_megabyte_subtitle_in_its_row_and_answers_the_others(tiny_model, tiny_tokenizer,
                                                                              tiny_config):
    loaded = LoadedModel(model=tiny_model, tokenizer=tiny_tokenizer, config=tiny_config, metadata={})
    limit = tiny_config.subtitle_char_limit()
    assert limit == 8 * tiny_config.train.max_length  # the default: 8 characters per prompt token
    huge = "a" * 1_000_000
    frame = pd.DataFrame({"clip_id": ["c0", "c1", "c2"], "subtitle": [SUBTITLES[0], huge, SUBTITLES[2]]})
    out = _pyfunc(loaded).predict(None, frame, params={"prompt": "ov", "max_new_tokens": 6})
    assert list(out.columns) == ["clip_id", "prompt_type", "output", "error"]
    assert out["error"].tolist()[0] is None and out["error"].tolist()[2] is None
    assert out["error"][1] == (f"clip c1: subtitle is 1000000 characters; the limit is {limit} "
                               "(the prompt cannot hold more); send a shorter subtitle")
    assert out["output"][1] is None  # never read as an answer
    zeros = {"frames": torch.zeros(8, 32), "faces": torch.zeros(8, 32), "audio": torch.zeros(8, 32)}
    assert tiny_config.modality_dims() == (32, 32)
    expected = generate_texts(loaded, [SUBTITLES[0], SUBTITLES[2]], [zeros, zeros], "ov", max_new_tokens=6)
    assert [out["output"][0], out["output"][2]] == expected


def test_pyfunc_refuses_a_row_with_bad_features_in_its_row_and_answers_the_others(tiny_model, tiny_tokenizer,
                                                                                  tiny_config):
    """One clip's unreadable, mis-shaped or non-finite features refuse that row alone (its
    reason in `error`, `output` null); the good rows are answered as if it had not been sent."""
    from affectgpt.model.pyfunc import encode_features

    loaded = LoadedModel(model=tiny_model, tokenizer=tiny_tokenizer, config=tiny_config, metadata={})
    good = _per_clip_features(2)
    wrong_width = {key: torch.zeros(4, 3) for key in ("frames", "faces", "audio")}
    not_finite = {key: value.clone() for key, value in good[0].items()}
    not_finite["audio"][0, 0] = float("nan")
    frame = pd.DataFrame({"clip_id": ["c0", "c1", "c2", "c3", "c4"], "subtitle": SUBTITLES,
                          "features": [encode_features(good[0]), encode_features(wrong_width), b"not safetensors",
                                       encode_features(not_finite), encode_features(good[1])]})
    out = _pyfunc(loaded).predict(None, frame, params={"prompt": "ov", "max_new_tokens": 6})
    errors = out["error"].tolist()
    assert errors[0] is None and errors[4] is None
    assert errors[1] == "clip c1: frames has shape (4, 3); expected (1..1024, 32)"
    assert errors[2].startswith("clip c2: features are not a readable safetensors file")
    assert errors[3] == "clip c3: audio must hold finite floating-point values"
    assert all("\n" not in error for error in errors if error)
    assert out["output"].tolist()[1:4] == [None, None, None]
    expected = generate_texts(loaded, [SUBTITLES[0], SUBTITLES[4]], good, "ov", max_new_tokens=6)
    assert [out["output"][0], out["output"][4]] == expected


def test_pyfunc_subtitle_limit_is_configurable_and_a_wholly_refused_request_generates_nothing(
        tiny_model, tiny_tokenizer, tiny_config):
    config = tiny_config.model_copy(update={"prompt": tiny_config.prompt.model_copy(
        update={"max_subtitle_chars": len(SUBTITLES[0])})})
    loaded = LoadedModel(model=tiny_model, tokenizer=tiny_tokenizer, config=config, metadata={})
    frame = pd.DataFrame({"clip_id": ["c0", "c1"], "subtitle": [SUBTITLES[0], SUBTITLES[0] + "!"]})
    out = _pyfunc(loaded).predict(None, frame, params={"max_new_tokens": 4})
    assert out["error"][0] is None and out["output"][0]
    assert out["error"][1].startswith(f"clip c1: subtitle is {len(SUBTITLES[0]) + 1} characters; the limit is "
                                      f"{len(SUBTITLES[0])} ")
    refused = _pyfunc(loaded).predict(None, frame.iloc[[1]], params={"max_new_tokens": 4})
    assert refused["output"].tolist() == [None] and refused["error"].notna().all()
