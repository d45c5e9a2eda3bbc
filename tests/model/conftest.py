"""Model fixtures: the tiny config with an in-process BPE tokenizer and a built AffectGPT whose
LoRA B matrices are randomised (at init they are zero, which would hide LoRA bugs)."""

from __future__ import annotations

from pathlib import Path

import pytest
from model_testkit import TEXTS, randomise_lora
from testkit.torch_threads import one_torch_thread

from affectgpt.model.build import build_model, build_tokenizer
from affectgpt.model.config import load_config

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session", autouse=True)
def _one_thread():
    with one_torch_thread():
        yield


@pytest.fixture(scope="session")
def tiny_config():
    return load_config(REPO / "configs" / "tiny.yaml")


@pytest.fixture(scope="session")
def tiny_tokenizer(tiny_config):
    return build_tokenizer(tiny_config, TEXTS)


@pytest.fixture()
def tiny_model(tiny_config, tiny_tokenizer):
    model = build_model(tiny_config, tiny_tokenizer)
    randomise_lora(model)
    return model.eval()

