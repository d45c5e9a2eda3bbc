"""Label extractors: the lexicon rules, and the LLM judge on a tiny local model and over HTTP."""

from __future__ import annotations

import pytest

from affectgpt.bench.extract import LabelExtractor, get_extractor
from affectgpt.bench.extract.llm import LABELS_PROMPT, SENTIMENT_PROMPT, ExtractionError, postprocess_answer
from affectgpt.bench.parsing import official_string_to_list
from affectgpt.llm_client import complete_local


def test_lexicon_finds_words_forms_and_phrases_and_handles_negation():
    lexicon = get_extractor("lexicon")
    assert isinstance(lexicon, LabelExtractor)
    assert lexicon.extract_labels("He is not angry, just a little worried.") == ["worried"]
    assert lexicon.extract_labels("She isn't happy; she is at a loss for words.") == ["at a loss for words"]
    assert lexicon.extract_labels("Without any anger, but with joy and JOY.") == ["joy"]
    assert lexicon.extract_labels("He was angrily shouting") == ["angrily"]
    assert lexicon.extract_labels("I don't care") == ["don’t care"]
    assert lexicon.extract_labels("His facial expression and the content of the text") == []
    assert lexicon.extract_labels("") == [] and lexicon.extract_labels(None) == []
    assert lexicon.extract_sentiment("She is delighted and grateful.") == "positive"
    assert lexicon.extract_sentiment(["sad", "angry"]) == "negative"
    assert lexicon.extract_sentiment("The weather is mild.") == "neutral"
    assert len(lexicon.prompt_hash) == 16 and lexicon.info()["name"] == "lexicon"


def test_lexicon_labels_score_well_on_real_emer_descriptions(reference_data, ov_gold_and_baseline):
    import csv

    from affectgpt.bench.metrics import score_ov

    gold, _ = ov_gold_and_baseline
    lexicon = get_extractor("lexicon")
    path = reference_data / "zeroQiaoba-AffectGPT" / "EMER" / "dataset-v2" / "final-EMER-reason.csv"
    with open(path, encoding="utf-8") as handle:
        samples = [{"name": r["name"], "gt": gold[r["name"]], "pred": lexicon.extract_labels(r["english"])}
                   for r in csv.DictReader(handle)]
    result = score_ov(samples, mode="official")
    assert len(samples) == 332
    assert 0.55 < result.score < 0.80  # measured 0.646; the gold labels were written from these texts


@pytest.fixture(scope="module")
def tiny_judge(tmp_path_factory):
    """A randomly initialised Qwen2 (hidden 32) with a BPE tokenizer trained in-process."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast, Qwen2Config, Qwen2ForCausalLM

    texts = [LABELS_PROMPT, "[happy, sad, angry]", "positive negative neutral", "joyful worried calm"] * 20
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    tokenizer.train_from_iterator(texts, trainers.BpeTrainer(
        vocab_size=400, special_tokens=["<|endoftext|>", "<pad>"], initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    hf_tokenizer = PreTrainedTokenizerFast(tokenizer_object=tokenizer, eos_token="<|endoftext|>", pad_token="<pad>")
    import torch

    torch.manual_seed(0)
    model = Qwen2ForCausalLM(Qwen2Config(
        vocab_size=len(hf_tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=1,
        num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=1024))
    path = tmp_path_factory.mktemp("tiny-judge")
    model.save_pretrained(path)
    hf_tokenizer.save_pretrained(path)
    return path


def test_llm_judge_on_a_local_model_is_greedy_and_cached(tiny_judge, tmp_path):
    text = "He smiles and laughs; he seems happy."
    first = get_extractor("llm", model=tiny_judge, cache_dir=tmp_path, max_new_tokens=8)
    labels = first.extract_labels(text)
    sentiment = first.extract_sentiment(labels)
    assert first.generated == 2
    # The labels and the sentiment are the judge's own greedy answers, cleaned and parsed as upstream does.
    answer = postprocess_answer(complete_local(str(tiny_judge), LABELS_PROMPT.format(text=text), max_new_tokens=8))
    assert labels == [label.lower() for label in official_string_to_list(answer)]
    sentiment_prompt = SENTIMENT_PROMPT.format(text="[" + ", ".join(labels) + "]")
    assert sentiment == postprocess_answer(complete_local(str(tiny_judge), sentiment_prompt, max_new_tokens=8))
    second = get_extractor("llm", model=tiny_judge, cache_dir=tmp_path, max_new_tokens=8)
    assert second.extract_labels(text) == labels and second.extract_sentiment(labels) == sentiment
    assert second.generated == 0 and second.cache.hits == 2  # re-run costs nothing
    third = get_extractor("llm", model=tiny_judge, cache_dir=tmp_path / "fresh", max_new_tokens=8)
    assert third.extract_labels(text) == labels  # greedy: same answer without the cache
    assert first.model_id.startswith(tiny_judge.name + "@")


def _judge_answer(body: dict) -> str:
    """A judge that answers prompt 1 with the lexicon labels of the text after the last
    "Input:" and prompt 2 with the lexicon sentiment."""
    prompt = body["messages"][-1]["content"]
    text = prompt.rsplit("Input:", 1)[1].rsplit("; Output:", 1)[0].strip()
    lexicon = get_extractor("lexicon")
    if "most likely sentiment" in prompt:
        return "Output: " + lexicon.extract_sentiment(text.strip("[]").split(", "))
    return "[" + ", ".join(lexicon.extract_labels(text)) + "]"


def test_llm_judge_over_an_openai_compatible_endpoint(chat_endpoint, tmp_path):
    server = chat_endpoint(_judge_answer)
    judge = get_extractor("llm", endpoint=server.url, endpoint_model="judge", cache_dir=tmp_path)
    assert judge.extract_labels("She is not sad, she is cheerful and relaxed.") == ["cheerful", "relaxed"]
    assert judge.extract_sentiment(["cheerful", "relaxed"]) == "positive"
    first_call = server.requests[0]["body"]
    assert first_call["temperature"] == 0 and first_call["model"] == "judge"
    again = get_extractor("llm", endpoint=server.url, endpoint_model="judge", cache_dir=tmp_path)
    assert again.extract_labels("She is not sad, she is cheerful and relaxed.") == ["cheerful", "relaxed"]
    assert len(server.requests) == 2  # the second extractor answered from the cache


def test_llm_judge_errors_are_clear(tmp_path):
    with pytest.raises(ExtractionError, match="exactly one"):
        get_extractor("llm", cache_dir=tmp_path)
    with pytest.raises(ExtractionError, match="no config.json"):
        get_extractor("llm", model=tmp_path, cache_dir=tmp_path)
    dead = get_extractor("llm", endpoint="http://127.0.0.1:9/v1", cache_dir=tmp_path, timeout_s=2)
    with pytest.raises(ExtractionError, match="refused the connection"):
        dead.extract_labels("happy")
    assert postprocess_answer(" Output: [happy]\n") == "[happy]"
    with pytest.raises(ValueError, match="unknown extractor"):
        get_extractor("regex")
