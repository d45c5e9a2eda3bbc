"""Fixtures for the dataset-builder tests: a small generated demo corpus and a fast build config."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from affectgpt.data.demo_corpus import make_demo_corpus


@pytest.fixture(scope="session")
def demo_corpus(tmp_path_factory) -> Path:
    """Six demo clips (one per emotion, all in the train split); returns the corpus folder."""
    out = tmp_path_factory.mktemp("demo-corpus")
    make_demo_corpus(out, n_clips=6, seed=0)
    return out


@pytest.fixture()
def raw_copy(demo_corpus: Path, tmp_path: Path) -> Path:
    """A private copy of the demo raw folder that a test may damage."""
    target = tmp_path / "raw"
    shutil.copytree(demo_corpus / "raw", target)
    return target


@pytest.fixture(scope="session")
def shared_cache(tmp_path_factory) -> Path:
    """One per-clip cache for the session: later builds of the same clips reuse it."""
    return tmp_path_factory.mktemp("build-cache")


@pytest.fixture(scope="session")
def tiny_lm(tmp_path_factory) -> Path:
    """A tiny random-init Qwen2 causal LM with a BPE tokenizer trained in-process, saved to a temp dir."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast, Qwen2Config, Qwen2ForCausalLM

    torch.manual_seed(0)
    texts = ["The speaker sounds happy and excited.", "The face looks sad and tired.", "A calm voice."] * 50
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator(texts, trainers.BpeTrainer(vocab_size=300, special_tokens=["<|endoftext|>", "<pad>"],
                                                       initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    hf_tok = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|endoftext|>", pad_token="<pad>")
    model = Qwen2ForCausalLM(Qwen2Config(vocab_size=hf_tok.vocab_size, hidden_size=32, intermediate_size=64,
                                         num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                                         max_position_embeddings=1024))
    path = tmp_path_factory.mktemp("tiny-lm")
    model.save_pretrained(path)
    hf_tok.save_pretrained(path)
    return path


@pytest.fixture()
def s3_credentials(s3_emulator, monkeypatch, tmp_path):
    """The emulator's accepted key pair in the environment, as a step pod gets it from its Secret
    (and no ~/.aws file of this machine's user in the way)."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", s3_emulator.access_key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", s3_emulator.secret_key)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    monkeypatch.delenv("AFFECTGPT_DVC_ENDPOINT_URL", raising=False)
    return s3_emulator
