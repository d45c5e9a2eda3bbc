"""The prompt is upstream's, verbatim: the template text below is copied from upstream
`get_prompt_for_multimodal` (branch `multiface_audio_face_text`) and `replace_token_for_multimodal`,
not built from our code."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from affectgpt.cli import app
from affectgpt.model.prompt import PromptEncoder, ov_answer

REPO = Path(__file__).resolve().parents[2]

UPSTREAM = ("###Human: The audio and video merged info is: <Multi><MultiHere></Multi>. "
            "The audio content is as follows: <Audio><AudioHere></Audio>. "
            "Meanwhile, we uniformly sample raw frames from the video and extract faces from these frames: "
            "<Video><FaceHere></Video>. "
            "The subtitle of this video is: <Subtitle>{subtitle}</Subtitle>. "
            "Now, please answer my question based on all the provided information. {user_message} ###Assistant: ")
QUESTIONS = {"description": "Please infer the person's emotional state and provide your reasoning process.",
             "ov": "Please recognize all possible emotional states of the character."}


def test_model_prompt_cli_prints_the_upstream_string_for_the_7b_config():
    subtitle = "I don't know! I, I, I don't have experience in this area."
    for question in ("ov", "description"):
        result = CliRunner().invoke(app, ["model", "prompt", "--config", str(REPO / "configs" / "affectgpt-7b.yaml"),
                                          "--subtitle", subtitle, "--question", question])
        assert result.exit_code == 0, result.output
        expected = UPSTREAM.format(subtitle=subtitle, user_message=QUESTIONS[question])
        assert result.stdout == expected


def test_qformer_config_repeats_the_multi_placeholder_k_times(tmp_path):
    text = (REPO / "configs" / "affectgpt-7b.yaml").read_text().replace(
        "fusion: {kind: attention, hidden_dim: 1024, visual: face, weights: none}",
        "fusion: {kind: qformer, hidden_dim: 1024, visual: face, qformer_queries: 3}")
    config = tmp_path / "q.yaml"
    config.write_text(text)
    result = CliRunner().invoke(app, ["model", "prompt", "--config", str(config), "--subtitle", "Hi."])
    assert result.exit_code == 0, result.output
    assert "<Multi><MultiHere><MultiHere><MultiHere></Multi>" in result.stdout


def test_prompt_is_tokenised_as_one_string_with_bos_only_in_training(tiny_model, tiny_tokenizer):
    subtitle = "Don't talk to me about feelings anymore."
    encoder = PromptEncoder(tiny_tokenizer, tiny_model.modalities, tiny_model.tokens_per_modality, 256)
    whole = UPSTREAM.format(subtitle=subtitle, user_message=QUESTIONS["ov"])
    one_string = tiny_tokenizer(whole, add_special_tokens=False)["input_ids"]
    ids, cut = encoder.prompt_ids(subtitle, "ov")
    assert ids == one_string and not cut  # inference: no bos, one tokenisation
    sample = encoder.encode_training(subtitle, "ov", ov_answer(["angry"]))
    assert sample.input_ids[0] == tiny_tokenizer.convert_tokens_to_ids("<|im_start|>")
    assert sample.input_ids[1:1 + len(one_string)] == one_string
    answer = tiny_tokenizer("The character's emotional state is angry.###", add_special_tokens=False)["input_ids"]
    assert sample.input_ids[1 + len(one_string):] == answer + [tiny_tokenizer.eos_token_id]
    with_bos = PromptEncoder(tiny_tokenizer, tiny_model.modalities, tiny_model.tokens_per_modality, 256,
                             bos_infer=True)
    assert with_bos.prompt_ids(subtitle, "ov")[0] == [tiny_tokenizer.bos_token_id] + one_string


def test_empty_ov_label_list_trains_as_neutral(tmp_path):
    import pandas as pd

    from affectgpt.train.data import load_caption_data

    pd.DataFrame({"clip_id": ["a", "b", "c"], "description": [None, "He smiles.", None],
                  "ov_labels": [[], None, ["sad"]], "subtitle": ["x", "y", "z"],
                  "split": ["train"] * 3}).to_parquet(tmp_path / "records.parquet")
    data = load_caption_data(tmp_path, 32, 32)
    labels = {s.clip_id: s.ov_labels for s in data.samples}
    assert labels == {"a": ["neutral"], "b": [], "c": ["sad"]}
    assert ov_answer([]) == "The character's emotional state is neutral."


def _upstream_fits(tokenizer, prompt: str, target: str, max_length: int) -> tuple[bool, int]:
    """base_dataset.py `__getitem__` + `collater`: prompt and `answer + '###'` tokenised apart,
    each truncated to max_length; `if len(text_input) > self.max_length: raise RuntimeError`;
    then the collater adds bos and eos. Returns (accepted, tokens the model sees)."""
    prompt_id = tokenizer(prompt, add_special_tokens=False, truncation=True, max_length=max_length)["input_ids"]
    target_id = tokenizer(target + "###", add_special_tokens=False, truncation=True, max_length=max_length)["input_ids"]
    text_input = prompt_id + target_id
    return len(text_input) <= max_length, 1 + len(text_input) + 1


def test_length_cap_leaves_bos_and_eos_out_as_upstream(tiny_model, tiny_tokenizer):
    subtitle, answer = "Don't talk to me about feelings anymore.", ov_answer(["angry"])
    prompt = UPSTREAM.format(subtitle=subtitle, user_message=QUESTIONS["ov"])
    exact = (len(tiny_tokenizer(prompt, add_special_tokens=False)["input_ids"])
             + len(tiny_tokenizer(answer + "###", add_special_tokens=False)["input_ids"]))
    accepted, seen = _upstream_fits(tiny_tokenizer, prompt, answer, exact)
    assert accepted and seen == exact + 2
    encoder = PromptEncoder(tiny_tokenizer, tiny_model.modalities, tiny_model.tokens_per_modality, exact)
    sample = encoder.encode_training(subtitle, "ov", answer)
    assert len(sample.input_ids) == seen and not sample.subtitle_truncated and not sample.answer_truncated
    assert not _upstream_fits(tiny_tokenizer, prompt, answer, exact - 1)[0]
    assert encoder.encode_training(subtitle + " More words here.", "ov", answer).subtitle_truncated
    counted = PromptEncoder(tiny_tokenizer, tiny_model.modalities, tiny_model.tokens_per_modality, exact,
                            length_cap="with-specials").encode_training(subtitle, "ov", answer)
    assert len(counted.input_ids) <= exact and counted.subtitle_truncated


def test_subtitles_and_descriptions_reach_the_model_as_written(tiny_model, tiny_tokenizer, tmp_path):
    """Upstream: `f"... <Subtitle>{subtitle}</Subtitle>. "` and `'answer': sample['description']`,
    `target = qa_pair['answer'] + '###'`: no strip anywhere."""
    import pandas as pd

    from affectgpt.model.prompt import target_text
    from affectgpt.train.data import load_caption_data

    pd.DataFrame({"clip_id": ["a"], "description": ["  He smiles.\n"], "ov_labels": [None],
                  "subtitle": [" Hi there. "], "split": ["train"]}).to_parquet(tmp_path / "records.parquet")
    sample = load_caption_data(tmp_path, 32, 32).samples[0]
    assert (sample.subtitle, sample.description) == (" Hi there. ", "  He smiles.\n")
    answer = target_text("description", sample.description, sample.ov_labels)
    encoder = PromptEncoder(tiny_tokenizer, tiny_model.modalities, tiny_model.tokens_per_modality, 256)
    encoded = encoder.encode_training(sample.subtitle, "description", answer)
    prompt = UPSTREAM.format(subtitle=" Hi there. ", user_message=QUESTIONS["description"])
    upstream = (tiny_tokenizer(prompt, add_special_tokens=False)["input_ids"]
                + tiny_tokenizer("  He smiles.\n###", add_special_tokens=False)["input_ids"])
    assert encoded.input_ids[1:-1] == upstream
    stripped = PromptEncoder(tiny_tokenizer, tiny_model.modalities, tiny_model.tokens_per_modality, 256,
                             strip_text=True).encode_training(sample.subtitle, "description", answer)
    assert stripped.input_ids != encoded.input_ids
    assert tiny_tokenizer.decode(stripped.input_ids).endswith(". ###Assistant: He smiles.###" + tiny_tokenizer.eos_token)
    assert "<Subtitle>Hi there.</Subtitle>" in tiny_tokenizer.decode(stripped.input_ids)
