"""`affectgpt model import-official`: a state dict written under upstream's parameter names and
shapes (models/affectgpt.py, peft LoRA naming), saved the way upstream's runner saves it, maps onto
the tiny model; the imported folder gives the same outputs as the model it came from."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from model_testkit import random_features
from typer.testing import CliRunner

from affectgpt.cli import app
from affectgpt.model.build import build_model, build_tokenizer
from affectgpt.model.config import load_config
from affectgpt.model.prompt import PromptEncoder
from affectgpt.model.store import load_model_dir

REPO = Path(__file__).resolve().parents[2]
LORA_MODULES = ["self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj",
                "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj"]


def _upstream_state(model) -> dict[str, torch.Tensor]:
    """The trainable state as upstream names it (written out here, not derived from our mapping)."""
    params = dict(model.named_parameters())
    state = {}
    n_layers = model.config.llm.architecture["num_hidden_layers"]
    for i in range(n_layers):
        for module in LORA_MODULES:
            for ab in ("lora_A", "lora_B"):
                ours = f"llm.base_model.model.model.layers.{i}.{module}.{ab}.default.weight"
                state[f"llama_model.base_model.model.model.layers.{i}.{module}.{ab}.default.weight"] = params[ours]
    pairs = {"video_attention_mlp": "pooling.face.score", "affectgpt_proj": "projectors.face",
             "audio_attention_mlp": "pooling.audio.score", "audio_llama_proj": "projectors.audio",
             "multi_video_embs": "fusion.visual_in", "multi_audio_embs": "fusion.audio_in",
             "attention_mlp": "fusion.attention_mlp", "fc_att": "fusion.attention_out",
             "multi_llama_proj": "fusion.to_llm"}
    for upstream, ours in pairs.items():
        for leaf in ("weight", "bias"):
            if f"{ours}.{leaf}" in params:  # attention_mlp / fc_att exist only for attention fusion
                state[f"{upstream}.{leaf}"] = params[f"{ours}.{leaf}"]
    # shapes as upstream: Linear(visual, 1) pooling, Linear(visual -> llm) projector
    assert state["video_attention_mlp.weight"].shape == (1, 32) and state["affectgpt_proj.weight"].shape == (64, 32)
    # what upstream's save_checkpoint also keeps: frozen-module buffers and the unused image head
    state["visual_encoder.model.vision_model.embeddings.position_ids"] = torch.arange(50).unsqueeze(0)
    state["image_llama_proj.weight"] = torch.zeros(64, 32)
    state["image_llama_proj.bias"] = torch.zeros(64)
    return {key: value.detach().clone() for key, value in state.items()}


@pytest.fixture()
def source_model():
    config = load_config(REPO / "configs" / "tiny.yaml")
    tokenizer = build_tokenizer(config)  # what import builds for a train-bpe config
    model = build_model(config, tokenizer)
    generator = torch.Generator().manual_seed(11)
    with torch.no_grad():
        for name, param in model.named_parameters():
            if param.requires_grad:
                param.copy_(torch.randn(param.shape, generator=generator) * 0.05)
    return model.eval(), tokenizer


def test_import_official_round_trips_the_upstream_state_dict(source_model, tmp_path):
    model, tokenizer = source_model
    checkpoint = tmp_path / "checkpoint_000059.pth"
    torch.save({"model": _upstream_state(model), "optimizer": {"state": {}, "param_groups": []}, "epoch": 59},
               checkpoint)
    out = tmp_path / "imported"
    result = CliRunner().invoke(app, ["model", "import-official", "--checkpoint", str(checkpoint),
                                      "--config", str(REPO / "configs" / "tiny.yaml"), "--out", str(out)])
    assert result.exit_code == 0, result.output
    loaded = load_model_dir(out)
    assert loaded.metadata["ignored_upstream_keys"] == [
        "image_llama_proj.bias", "image_llama_proj.weight", "visual_encoder.model.vision_model.embeddings.position_ids"]
    encoder = PromptEncoder(tokenizer, model.modalities, model.tokens_per_modality, 256)
    ids = torch.tensor([encoder.prompt_ids("I don't know! I don't have experience in this area.", "description")[0]])
    features = random_features(1, seed=2)
    with torch.no_grad():
        before = model(ids, torch.ones_like(ids), features).logits
        after = loaded.model(ids, torch.ones_like(ids), features).logits
    assert torch.equal(before, after)


def test_unknown_and_missing_keys_are_listed(source_model, tmp_path):
    model, _ = source_model
    state = _upstream_state(model)
    del state["fc_att.bias"]
    state["video_Qformer.bert.encoder.layer.0.attention.self.query.weight"] = torch.zeros(768, 768)
    checkpoint = tmp_path / "bad.pth"
    torch.save({"model": state}, checkpoint)
    result = CliRunner().invoke(app, ["model", "import-official", "--checkpoint", str(checkpoint),
                                      "--config", str(REPO / "configs" / "tiny.yaml"), "--out", str(tmp_path / "o")])
    assert result.exit_code == 2
    assert "video_Qformer.bert.encoder.layer.0.attention.self.query.weight" in result.output
    assert "fusion.attention_out.bias" in result.output and "Traceback" not in result.output
    assert not (tmp_path / "o").exists()


class _Arbitrary:
    """A pickled object of a class weights_only loading does not allow."""


def test_a_pickled_object_is_refused(tmp_path):
    checkpoint = tmp_path / "pickle.pth"
    torch.save({"model": {"w": torch.zeros(1)}, "extra": _Arbitrary()}, checkpoint)
    result = CliRunner().invoke(app, ["model", "import-official", "--checkpoint", str(checkpoint),
                                      "--config", str(REPO / "configs" / "tiny.yaml"), "--out", str(tmp_path / "o")])
    assert result.exit_code == 2 and "weights_only" in result.output


def test_qformer_checkpoints_map_by_upstream_blip2_names():
    from affectgpt.model.official import map_state

    config = load_config(REPO / "configs" / "tiny.yaml")
    config = config.model_copy(update={"fusion": config.fusion.model_copy(update={
        "kind": "qformer", "qformer_queries": 2, "qformer_heads": 4, "qformer_width": 16})})
    model = build_model(config, build_tokenizer(config))
    params = dict(model.named_parameters())
    state = _upstream_state(model)
    assert "fc_att.weight" not in state
    state["multi_query_tokens"] = params["fusion.queries"]
    state["multi_position_embedding.weight"] = params["fusion.positions.weight"]
    for leaf in ("weight", "bias"):
        state[f"multi_Qformer.bert.embeddings.LayerNorm.{leaf}"] = params[f"fusion.query_norm.{leaf}"]
        for i in range(2):
            up, ours = f"multi_Qformer.bert.encoder.layer.{i}", f"fusion.layers.{i}"
            for block in ("attention", "crossattention"):
                for proj in ("query", "key", "value"):
                    state[f"{up}.{block}.self.{proj}.{leaf}"] = params[f"{ours}.{block}.{proj}.{leaf}"]
                for sub in ("dense", "LayerNorm"):
                    state[f"{up}.{block}.output.{sub}.{leaf}"] = params[f"{ours}.{block}.output.{sub}.{leaf}"]
            state[f"{up}.intermediate_query.dense.{leaf}"] = params[f"{ours}.intermediate_query.0.{leaf}"]
            for sub in ("dense", "LayerNorm"):
                state[f"{up}.output_query.{sub}.{leaf}"] = params[f"{ours}.output_query.{sub}.{leaf}"]
    state["multi_Qformer.bert.embeddings.position_ids"] = torch.arange(512).unsqueeze(0)
    mapped, ignored = map_state(state, model, "test")
    assert set(mapped) == {n for n, p in model.named_parameters() if p.requires_grad}
    assert "multi_Qformer.bert.embeddings.position_ids" in ignored


def _garbage(path: Path) -> None:
    path.write_bytes(b"this is not a checkpoint at all, just some text\n" * 4)


def _forty_gigabyte_header(path: Path) -> None:
    path.write_bytes(int(40e9).to_bytes(8, "little") + b'{"w": {}}')


@pytest.mark.parametrize(("write", "what"), [
    (lambda path: path.write_bytes(b""), "empty file"),
    (_garbage, "header length says"),
    (_forty_gigabyte_header, "header length says 40000000000 bytes"),
], ids=["empty", "garbage", "40GB-header"])
def test_a_damaged_safetensors_checkpoint_is_one_line(tmp_path, write, what):
    checkpoint = tmp_path / "checkpoint.safetensors"
    write(checkpoint)
    result = CliRunner().invoke(app, ["model", "import-official", "--checkpoint", str(checkpoint),
                                      "--config", str(REPO / "configs" / "tiny.yaml"), "--out", str(tmp_path / "o")])
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output and "SafetensorError" not in result.output
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and str(checkpoint) in errors[0] and what in errors[0], result.output
    assert not (tmp_path / "o").exists()


def test_a_safetensors_header_that_is_no_tensor_table_is_named(tmp_path):
    from affectgpt.model.safetensors_file import safetensors_problem

    path = tmp_path / "list.safetensors"
    header = b"[1, 2]"
    path.write_bytes(len(header).to_bytes(8, "little") + header)
    assert "not an object of tensors" in safetensors_problem(path)
    header = b'{"w": {"dtype": "F32", "shape": [1], "data_offsets": [0, "4"]}}'
    path.write_bytes(len(header).to_bytes(8, "little") + header + b"\0" * 4)
    assert "'w' has no valid data_offsets" in safetensors_problem(path)
