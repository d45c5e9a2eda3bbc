"""Tokenizers for AffectGPT: a pretrained LLM's tokenizer, or a byte-level BPE trained in-process.

Either way the modality placeholders are added as special tokens, so each one is exactly one id
that the model can find and replace with modality embeddings.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from transformers import AutoTokenizer, PreTrainedTokenizerBase, PreTrainedTokenizerFast

from affectgpt.model.prompt import PLACEHOLDERS, prompt_corpus

EOS_TOKEN = "<|endoftext|>"
PAD_TOKEN = "<pad>"
# Upstream sets Qwen2/Qwen2.5's bos to `<|im_start|>` (models/tokenizer.py); training prepends it.
QWEN_BOS = "<|im_start|>"
PROMPT_WEIGHT = 50


def train_bpe_tokenizer(texts: Iterable[str], vocab_size: int) -> PreTrainedTokenizerFast:
    """A byte-level BPE (GPT-2 style) trained on `texts` plus the prompt template text.
    Deterministic for the same texts, so a resumed run rebuilds the same vocabulary."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    backend = Tokenizer(models.BPE())
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    specials = [EOS_TOKEN, PAD_TOKEN, QWEN_BOS, *PLACEHOLDERS.values()]
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=specials,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    # The template is weighted so its words win merges over the corpus: the upstream prompt is
    # long, and a small vocabulary would otherwise spend ~1.5 tokens per template word.
    corpus = [text for text in texts if text] + prompt_corpus() * PROMPT_WEIGHT
    backend.train_from_iterator(corpus, trainer)
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=backend, eos_token=EOS_TOKEN, pad_token=PAD_TOKEN,
                                        bos_token=QWEN_BOS)
    tokenizer.add_special_tokens({"additional_special_tokens": list(PLACEHOLDERS.values())})
    return tokenizer


def load_pretrained_tokenizer(name_or_path: str) -> PreTrainedTokenizerBase:
    """The LLM's own tokenizer with the placeholders added and pad = eos, as upstream's
    `load_tokenizer_from_LLM` (`tokenizer.pad_token = tokenizer.eos_token`; Qwen2.5 ships its own
    pad). Pads only fill positions the attention mask and the loss leave out, so the choice does
    not change a loss or an answer (tests/model/test_model_faithful_decoding.py)."""
    try:
        tokenizer = AutoTokenizer.from_pretrained(name_or_path)
    except (OSError, ValueError) as exc:
        raise ValueError(f"tokenizer '{name_or_path}': cannot load it offline; point llm.name_or_path at a "
                         f"local folder with the tokenizer files ({exc})") from None
    tokenizer.pad_token = tokenizer.eos_token
    return add_placeholders(tokenizer)


def add_placeholders(tokenizer: PreTrainedTokenizerBase) -> PreTrainedTokenizerBase:
    missing = [token for token in PLACEHOLDERS.values() if token not in tokenizer.get_vocab()]
    if missing:
        tokenizer.add_special_tokens({"additional_special_tokens": missing}, replace_extra_special_tokens=False)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    if tokenizer.bos_token is None and QWEN_BOS in tokenizer.get_vocab():
        tokenizer.bos_token = QWEN_BOS  # as upstream for Qwen2/Qwen2.5 (they ship without a bos)
    return tokenizer


def load_tokenizer_dir(path: str | Path) -> PreTrainedTokenizerBase:
    """A tokenizer saved next to a model (always carries the placeholders already)."""
    return add_placeholders(AutoTokenizer.from_pretrained(str(path)))


def placeholder_ids(tokenizer: PreTrainedTokenizerBase) -> dict[str, int]:
    """modality name -> token id of its placeholder."""
    ids = {}
    for name, token in PLACEHOLDERS.items():
        token_id = tokenizer.convert_tokens_to_ids(token)
        if token_id is None or token_id == tokenizer.unk_token_id:
            raise ValueError(f"tokenizer lacks the placeholder token {token}")
        ids[name] = int(token_id)
    return ids
