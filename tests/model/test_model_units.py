"""AffectGPT building blocks at tiny sizes: pooling, pre-fusion, prompt layout and masking,
placeholder splicing, hybrid target, LoRA trainability, config validation."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import yaml
from model_testkit import random_features

from affectgpt.model.build import build_model
from affectgpt.model.config import ConfigError, TrainConfig, check_global_batch, load_config
from affectgpt.model.fusion import QFormerFusion, build_fusion
from affectgpt.model.pooling import TemporalAttentionPooling
from affectgpt.model.prompt import IGNORE_INDEX, PLACEHOLDERS, PromptEncoder, choose_prompt_type, ov_answer

REPO = Path(__file__).resolve().parents[2]


def test_pooling_is_unnormalised_weighted_sum_and_softmax_variant_averages():
    features = torch.randn(3, 8, 16)
    pool = TemporalAttentionPooling(16)
    scores = features @ pool.score.weight.T + pool.score.bias  # [3, 8, 1]
    assert torch.allclose(pool(features), (scores * features).sum(1), atol=1e-6)
    soft = TemporalAttentionPooling(16, normalize="softmax")
    constant = torch.ones(2, 8, 16) * 3.0
    assert torch.allclose(soft(constant), torch.full((2, 16), 3.0), atol=1e-5)  # convex combination
    with pytest.raises(ValueError, match="batch, time, dim"):
        pool(torch.randn(8, 16))


@pytest.mark.parametrize("kind,n_tokens", [("attention", 1), ("qformer", 3)])
def test_prefusion_variants_give_tokens_of_llm_width(kind, n_tokens):
    fusion = build_fusion(kind, audio_dim=24, visual_dim=16, hidden_dim=32, llm_dim=48, n_queries=3, n_layers=2, n_heads=4)
    out = fusion(torch.randn(2, 8, 24), torch.randn(2, 8, 16))
    assert out.shape == (2, n_tokens, 48)
    assert fusion.n_tokens == n_tokens
    assert build_fusion("none", audio_dim=24, visual_dim=16, hidden_dim=32, llm_dim=48) is None


def test_qformer_changes_when_only_the_audio_changes():
    fusion = QFormerFusion(8, 8, 16, 16, n_queries=2, n_layers=2, n_heads=4, width=16).eval()
    visual = torch.randn(1, 8, 8)
    a, b = fusion(torch.randn(1, 8, 8), visual), fusion(torch.randn(1, 8, 8), visual)
    assert not torch.allclose(a, b)


def test_prompt_masks_everything_but_answer_separator_and_eos(tiny_model, tiny_tokenizer):
    encoder = PromptEncoder(tiny_tokenizer, tiny_model.modalities, tiny_model.tokens_per_modality, 256)
    sample = encoder.encode_training("Don't talk to me.", "ov", ov_answer(["angry", "sad"]))
    labelled = [t for t, l in zip(sample.input_ids, sample.labels) if l != IGNORE_INDEX]
    text = tiny_tokenizer.decode(labelled, skip_special_tokens=False)
    assert text == "The character's emotional state is angry, sad.###" + tiny_tokenizer.eos_token
    assert sample.input_ids[0] == tiny_tokenizer.bos_token_id  # training prepends bos, as upstream
    prompt_text = tiny_tokenizer.decode(sample.input_ids[1: len(sample.input_ids) - len(labelled)])
    assert prompt_text.startswith("###Human: The audio and video merged info is: <Multi><MultiHere></Multi>. ")
    assert prompt_text.endswith("###Assistant: ") and "Don't talk to me." in prompt_text
    assert not sample.subtitle_truncated and not sample.answer_truncated


def test_over_long_samples_lose_subtitle_first_then_answer_and_are_flagged(tiny_model, tiny_tokenizer):
    encoder = PromptEncoder(tiny_tokenizer, tiny_model.modalities, tiny_model.tokens_per_modality, 200)
    long_subtitle = "I forgot to thank you properly last night. " * 20
    sample = encoder.encode_training(long_subtitle, "ov", ov_answer(["happy"]))
    # upstream's cap: prompt + answer### within 200, bos and eos on top
    assert len(sample.input_ids) <= 202 and sample.subtitle_truncated and not sample.answer_truncated
    assert sample.labels[-1] == tiny_tokenizer.eos_token_id  # the answer survived whole
    long_answer = "He roared and stared with wide eyes. " * 30
    sample = encoder.encode_training("Hi.", "description", long_answer)
    assert len(sample.input_ids) == 202 and sample.answer_truncated


def test_placeholders_are_single_special_tokens_and_splicing_puts_modality_tokens_in_place(tiny_model, tiny_tokenizer):
    for token in PLACEHOLDERS.values():
        assert len(tiny_tokenizer(token, add_special_tokens=False)["input_ids"]) == 1
    encoder = PromptEncoder(tiny_tokenizer, tiny_model.modalities, tiny_model.tokens_per_modality, 256)
    rows = [encoder.prompt_ids(text, "ov")[0] for text in ("Of course.", "Look, Ouyang is getting married too.")]
    width = max(map(len, rows))
    pad = tiny_tokenizer.pad_token_id
    input_ids = torch.tensor([[pad] * (width - len(r)) + r for r in rows])  # left padded
    features = random_features(2)
    with torch.no_grad():
        embeds = tiny_model.embed(input_ids, features)
        tokens = tiny_model.modality_tokens(features)
        plain = tiny_model.llm.get_input_embeddings()(input_ids)
    for name, modality in tokens.items():
        positions = (input_ids == tiny_model.placeholder_ids[name]).nonzero()
        assert len(positions) == 2
        for (row, col) in positions.tolist():
            assert torch.equal(embeds[row, col], modality[row, 0])
    untouched = ~torch.isin(input_ids, torch.tensor(list(tiny_model.placeholder_ids.values())))
    assert torch.equal(embeds[untouched], plain[untouched])
    with pytest.raises(ValueError, match="placeholder"):
        tiny_model.embed(input_ids[:, -10:], features)  # placeholders cut off


def test_hybrid_target_draw_is_uniform_deterministic_and_falls_back():
    draws = [choose_prompt_type(42, 0, f"clip{i}", True, True) for i in range(2000)]
    assert 0.45 < draws.count("ov") / len(draws) < 0.55
    assert draws == [choose_prompt_type(42, 0, f"clip{i}", True, True) for i in range(2000)]
    assert draws != [choose_prompt_type(42, 1, f"clip{i}", True, True) for i in range(2000)]  # new draw per epoch
    assert choose_prompt_type(1, 0, "c", True, False) == "description"
    assert choose_prompt_type(1, 0, "c", False, True) == "ov"
    with pytest.raises(ValueError, match="neither"):
        choose_prompt_type(1, 0, "c", False, False)


def test_only_lora_pooling_fusion_and_projectors_train(tiny_model, tiny_tokenizer):
    trainable = [n for n, p in tiny_model.named_parameters() if p.requires_grad]
    frozen = [n for n, p in tiny_model.named_parameters() if not p.requires_grad]
    assert trainable and frozen
    for name in trainable:
        assert ".lora_" in name or name.split(".")[0] in ("pooling", "projectors", "fusion"), name
    for name in frozen:
        assert name.startswith("llm.") and ".lora_" not in name, name
    lora_targets = {n.split(".lora_")[0].rsplit(".", 1)[-1] for n in trainable if ".lora_" in n}
    assert lora_targets == {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"}
    encoder = PromptEncoder(tiny_tokenizer, tiny_model.modalities, tiny_model.tokens_per_modality, 256)
    sample = encoder.encode_training("Of course.", "ov", ov_answer(["neutral"]))
    tiny_model.train()
    out = tiny_model(torch.tensor([sample.input_ids]), torch.ones(1, len(sample.input_ids), dtype=torch.long),
                     random_features(1), torch.tensor([sample.labels]))
    out.loss.backward()
    for name, param in tiny_model.named_parameters():
        assert (param.grad is not None) == param.requires_grad, name


def test_fusion_none_and_qformer_configs_build_and_run(tiny_config, tiny_tokenizer):
    for fusion, modalities, n_multi in (({"kind": "none"}, ["audio", "face", "frame"], 0),
                                        ({"kind": "qformer", "hidden_dim": 32, "qformer_queries": 3,
                                          "qformer_heads": 4, "qformer_width": 32}, ["multi", "audio", "face"], 3)):
        config = tiny_config.model_copy(update={
            "fusion": tiny_config.fusion.model_copy(update=fusion),
            "prompt": tiny_config.prompt.model_copy(update={"modalities": modalities})})
        model = build_model(config, tiny_tokenizer).eval()
        assert model.tokens_per_modality.get("multi", 0) == n_multi
        encoder = PromptEncoder(tiny_tokenizer, model.modalities, model.tokens_per_modality, 256)
        ids = encoder.prompt_ids("Of course.", "description")[0]
        assert ids.count(model.placeholder_ids["multi"]) == n_multi
        logits = model(torch.tensor([ids]), torch.ones(1, len(ids), dtype=torch.long), random_features(1)).logits
        assert logits.shape == (1, len(ids), len(tiny_tokenizer))


def test_config_errors_name_the_file_and_field(tmp_path):
    config = yaml.safe_load((REPO / "configs" / "tiny.yaml").read_text())
    config["train"]["learning_rate"] = 0.1
    config["fusion"]["kind"] = "transformer"
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(config))
    with pytest.raises(ConfigError) as error:
        load_config(path)
    message = str(error.value)
    assert str(path) in message and "train.learning_rate" in message and "fusion.kind" in message


def test_global_batch_invariant_is_checked():
    assert check_global_batch(TrainConfig(micro_batch_size=3, grad_accumulation=2), 4) == 24
    with pytest.raises(ConfigError, match="global_batch_size 16"):
        check_global_batch(TrainConfig(micro_batch_size=3, grad_accumulation=2, global_batch_size=16), 2)


def test_the_7b_recipe_runs_on_1_8_and_16_gpus_drawing_one_gpus_samples_per_epoch():
    """The paper's batch is 3 on one GPU. `batch_policy: per-rank` keeps 3 per rank (global 3 x N)
    and shares an epoch's 5000 iterations over the ranks, so the samples per epoch stay 15,000;
    `exact` refuses a world size that does not divide the global batch."""
    from affectgpt.paths import packaged_config
    from affectgpt.train.ds_config import deepspeed_config
    from affectgpt.train.run import _micro_batches_per_epoch

    train = load_config(packaged_config("affectgpt-7b.yaml")).train
    assert (train.batch_policy, train.global_batch_size, train.micro_batch_size) == ("per-rank", 3, 3)
    for world in (1, 8, 16):
        config = deepspeed_config(train, world, on_gpu=True)
        assert config["train_batch_size"] == 3 * world and config["train_micro_batch_size_per_gpu"] == 3
        per_rank = _micro_batches_per_epoch(train, n_micro_per_pass=10**6, world=world)
        assert abs(per_rank * world * 3 - 5000 * 3) < 3 * world, (world, per_rank)
    exact = train.model_copy(update={"batch_policy": "exact"})
    assert _micro_batches_per_epoch(exact, 10**6, 8) == 5000
    with pytest.raises(ConfigError, match="world size 8"):
        check_global_batch(exact, 8)
    with pytest.raises(ConfigError, match="batch of one process"):
        check_global_batch(train.model_copy(update={"global_batch_size": 6}), 8)


def test_seven_b_config_has_the_papers_lora_count_on_the_meta_device():
    from affectgpt.model.summary import summarize

    counts = summarize(REPO / "configs" / "affectgpt-7b.yaml")
    assert counts["llm.lora"]["trainable"] == 40_370_176
    assert counts["llm.base"]["trainable"] == 0
    assert 7_600_000_000 < counts["llm.base"]["total"] < 7_630_000_000  # Qwen2.5-7B: 7.62B


def test_model_summary_cli_prints_the_lora_count():
    from typer.testing import CliRunner

    from affectgpt.cli import app

    result = CliRunner().invoke(app, ["model", "summary", "--config", str(REPO / "configs" / "affectgpt-7b.yaml")])
    assert result.exit_code == 0, result.output
    assert "40,370,176" in result.output
    missing = CliRunner().invoke(app, ["model", "summary", "--config", "no-such.yaml"])
    assert missing.exit_code == 4 and "no-such.yaml" in missing.output and "Traceback" not in missing.output
