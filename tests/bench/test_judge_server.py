"""The LLM judge and the `endpoint` describer against a real OpenAI-compatible server:
`transformers serve` on 127.0.0.1 serving a tiny Qwen2 built here (BPE tokenizer trained
in-process, a chat template saved beside it). The server decodes greedily when asked for
temperature 0, so its answers must equal the same model's local greedy answers word for word.

The model is text-only: the server renders the text parts of a multimodal message through the
chat template and leaves the frames and audio out, so the describer test checks that the parts
reach a real server and that the answer is the greedy answer to the prompt, not what a
vision/audio model would make of the media.

Also here: cache keys of the judge and the `hf` describer follow the weights' content.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
from testkit.processes import ServerProcess, free_port

from affectgpt.bench.extract import get_extractor
from affectgpt.bench.extract.llm import LABELS_PROMPT, SENTIMENT_PROMPT, postprocess_answer
from affectgpt.llm_client import complete_local

CHAT_TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n"
    "{% if m['content'] is string %}{{ m['content'] }}{% else %}"
    "{% for p in m['content'] %}{% if p['type'] == 'text' %}{{ p['text'] }}{% endif %}{% endfor %}{% endif %}"
    "<|im_end|>\n{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def build_tiny_chat_model(path: Path, seed: int = 0) -> Path:
    """A random-init Qwen2 (hidden 32, 1 layer) with a BPE tokenizer and a chat template."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast, Qwen2Config, Qwen2ForCausalLM

    texts = [LABELS_PROMPT, SENTIMENT_PROMPT, "[happy, sad, angry]", "positive negative neutral"] * 20
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    tokenizer.train_from_iterator(texts, trainers.BpeTrainer(
        vocab_size=400, special_tokens=["<|endoftext|>", "<pad>", "<|im_start|>", "<|im_end|>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    hf_tokenizer = PreTrainedTokenizerFast(tokenizer_object=tokenizer, eos_token="<|im_end|>", pad_token="<pad>")
    hf_tokenizer.chat_template = CHAT_TEMPLATE
    torch.manual_seed(seed)
    model = Qwen2ForCausalLM(Qwen2Config(
        vocab_size=len(hf_tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=1,
        num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=1024,
        eos_token_id=hf_tokenizer.eos_token_id, pad_token_id=hf_tokenizer.pad_token_id))
    model.save_pretrained(path)
    hf_tokenizer.save_pretrained(path)
    return path


def start_transformers_server(model_dir: Path, log: Path) -> ServerProcess:
    """`transformers serve MODEL` on a free port (its URL in `.url`), healthy when returned."""
    port = free_port()
    server = ServerProcess("transformers serve", [
        str(Path(sys.executable).with_name("transformers")), "serve", str(model_dir), "--host", "127.0.0.1",
        "--port", str(port), "--device", "cpu"], log, env={**os.environ, "HF_HUB_OFFLINE": "1",
                                                          "TRANSFORMERS_OFFLINE": "1"})
    server.url = f"http://127.0.0.1:{port}/v1"
    server.wait_healthy(f"http://127.0.0.1:{port}/health")
    return server


@pytest.fixture(scope="module")
def tiny_chat_model(tmp_path_factory) -> Path:
    return build_tiny_chat_model(tmp_path_factory.mktemp("tiny-chat"))


@pytest.fixture(scope="module")
def judge_server(tiny_chat_model, tmp_path_factory):
    server = start_transformers_server(tiny_chat_model, tmp_path_factory.mktemp("serve") / "serve.log")
    try:
        yield server
    finally:
        server.stop()


@pytest.mark.integration
def test_llm_judge_on_a_real_server_is_greedy_and_cached(judge_server, tiny_chat_model, tmp_path):
    text = "He smiles and laughs; he seems happy."
    served = get_extractor("llm", endpoint=judge_server.url, endpoint_model=str(tiny_chat_model),
                           cache_dir=tmp_path / "served", max_new_tokens=8)
    labels = served.extract_labels(text)
    sentiment = served.extract_sentiment(labels)
    assert served.generated == 2
    # Greedy on the server = greedy locally, token for token (same weights, same chat template).
    local = get_extractor("llm", model=tiny_chat_model, cache_dir=tmp_path / "local", max_new_tokens=8)
    for task, template, question in (("labels", LABELS_PROMPT, text),
                                     ("sentiment", SENTIMENT_PROMPT, "[" + ", ".join(labels) + "]")):
        expected = postprocess_answer(complete_local(str(tiny_chat_model), template.format(text=question), 8))
        assert served.cache.get(task, question, served.model_id, served.version) == expected
    assert local.extract_labels(text) == labels and local.extract_sentiment(labels) == sentiment
    again = get_extractor("llm", endpoint=judge_server.url, endpoint_model=str(tiny_chat_model),
                          cache_dir=tmp_path / "served", max_new_tokens=8)
    assert again.extract_labels(text) == labels and again.generated == 0  # answered from the cache
    fresh = get_extractor("llm", endpoint=judge_server.url, endpoint_model=str(tiny_chat_model),
                          cache_dir=tmp_path / "fresh", max_new_tokens=8)
    assert fresh.extract_labels(text) == labels and fresh.generated == 1  # same answer when asked again


@pytest.mark.integration
def test_llm_judge_names_a_refusing_server(judge_server, tmp_path):
    from affectgpt.bench.extract.llm import ExtractionError

    judge = get_extractor("llm", endpoint=judge_server.url, endpoint_model="not-the-served-model",
                          cache_dir=tmp_path)
    with pytest.raises(ExtractionError, match=r"judge endpoint: .*/chat/completions: HTTP 4\d\d"):
        judge.extract_labels("She is calm.")


@pytest.mark.integration
def test_endpoint_describer_on_a_real_server(judge_server, tiny_chat_model, tmp_path):
    from affectgpt.data.config import DescribersConfig, EndpointDescriberConfig
    from affectgpt.data.demo_corpus import make_demo_corpus
    from affectgpt.data.describers import make_describer
    from affectgpt.data.describers.endpoint import PROMPTS
    from affectgpt.media import load_clip

    make_demo_corpus(tmp_path / "corpus", n_clips=1, seed=0, workers=1)
    video = next((tmp_path / "corpus" / "raw").glob("*.mp4"))
    media = load_clip(video, video.with_suffix(".wav"))
    config = DescribersConfig(endpoint=[
        EndpointDescriberConfig(name="vid", url=judge_server.url, model=str(tiny_chat_model), modality="visual",
                                max_tokens=10),
        EndpointDescriberConfig(name="aud", url=judge_server.url, model=str(tiny_chat_model), modality="audio",
                                max_tokens=10),
    ])
    for name, modality in (("vid", "visual"), ("aud", "audio")):
        clue = make_describer(name, config).describe({}, None, media)
        assert clue == complete_local(str(tiny_chat_model), PROMPTS[modality], max_new_tokens=10)


def _change_one_weight(model_dir: Path) -> None:
    """Add 1e-3 to one element of one tensor, keeping names, shapes, dtypes and file size."""
    from safetensors import safe_open
    from safetensors.torch import save_file

    weights = model_dir / "model.safetensors"
    with safe_open(str(weights), framework="pt") as handle:
        metadata = handle.metadata()
        tensors = {name: handle.get_tensor(name) for name in handle.keys()}  # noqa: SIM118 (safe_open has no __iter__)
    name = min(tensors)
    tensors[name] = tensors[name].clone()
    tensors[name].view(-1)[0] += 1e-3
    size = weights.stat().st_size
    save_file(tensors, str(weights), metadata=metadata)
    assert weights.stat().st_size == size


def test_cache_keys_follow_the_weights_content(tmp_path):
    from affectgpt.data.config import HFDescriberConfig
    from affectgpt.data.describers.hf import HFDescriber

    model_dir = build_tiny_chat_model(tmp_path / "judge")
    judge_key = get_extractor("llm", model=model_dir, cache_dir=tmp_path / "cache").model_id
    describer_key = HFDescriber(HFDescriberConfig(model_path=str(model_dir), modality="audio")).version
    assert judge_key == get_extractor("llm", model=model_dir, cache_dir=tmp_path / "cache").model_id  # stable
    _change_one_weight(model_dir)
    assert get_extractor("llm", model=model_dir, cache_dir=tmp_path / "cache").model_id != judge_key
    assert HFDescriber(HFDescriberConfig(model_path=str(model_dir), modality="audio")).version != describer_key
