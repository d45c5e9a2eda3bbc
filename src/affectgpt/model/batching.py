"""Token batches for training (right padding, loss labels) and generation (left padding).

Kept beside the model because both the trainer and the MLflow pyfunc build batches the same way.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
from transformers import PreTrainedTokenizerBase

from affectgpt.model.mllm import AffectGPT
from affectgpt.model.prompt import IGNORE_INDEX, PromptEncoder


@dataclass
class TokenBatch:
    input_ids: torch.Tensor
    attention_mask: torch.Tensor
    features: dict[str, torch.Tensor]
    labels: torch.Tensor | None = None
    truncations: Counter = field(default_factory=Counter)

    def to(self, device: torch.device | str) -> TokenBatch:
        return TokenBatch(
            input_ids=self.input_ids.to(device), attention_mask=self.attention_mask.to(device),
            features={key: value.to(device) for key, value in self.features.items()},
            labels=None if self.labels is None else self.labels.to(device), truncations=self.truncations,
        )

    @property
    def n_tokens(self) -> int:
        return int(self.attention_mask.sum())


class Batcher:
    def __init__(self, model: AffectGPT, tokenizer: PreTrainedTokenizerBase, max_length: int) -> None:
        self.tokenizer = tokenizer
        prompt = model.config.prompt
        self.encoder = PromptEncoder(tokenizer, model.modalities, model.tokens_per_modality, max_length,
                                     bos_train=prompt.bos_in_training, bos_infer=prompt.bos_at_inference,
                                     strip_text=prompt.strip_text, length_cap=prompt.length_cap)
        self.pad_id = int(tokenizer.pad_token_id)

    def training_batch(self, subtitles: Sequence[str], prompt_types: Sequence[str], answers: Sequence[str],
                       features: dict[str, torch.Tensor]) -> TokenBatch:
        encoded = [self.encoder.encode_training(s, p, a) for s, p, a in zip(subtitles, prompt_types, answers)]
        width = max(len(sample.input_ids) for sample in encoded)
        input_ids = torch.full((len(encoded), width), self.pad_id, dtype=torch.long)
        labels = torch.full((len(encoded), width), IGNORE_INDEX, dtype=torch.long)
        mask = torch.zeros((len(encoded), width), dtype=torch.long)
        truncations: Counter = Counter()
        for row, sample in enumerate(encoded):
            n = len(sample.input_ids)
            input_ids[row, :n] = torch.tensor(sample.input_ids)
            labels[row, :n] = torch.tensor(sample.labels)
            mask[row, :n] = 1
            truncations["subtitle_truncated"] += sample.subtitle_truncated
            truncations["answer_truncated"] += sample.answer_truncated
        return TokenBatch(input_ids, mask, features, labels, truncations)

    def generation_batch(self, subtitles: Sequence[str], prompt_type: str,
                         features: dict[str, torch.Tensor]) -> TokenBatch:
        prompts = [self.encoder.prompt_ids(subtitle, prompt_type) for subtitle in subtitles]
        width = max(len(ids) for ids, _ in prompts)
        input_ids = torch.full((len(prompts), width), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(prompts), width), dtype=torch.long)
        for row, (ids, _) in enumerate(prompts):
            input_ids[row, width - len(ids):] = torch.tensor(ids)
            mask[row, width - len(ids):] = 1
        truncations = Counter(subtitle_truncated=sum(cut for _, cut in prompts))
        return TokenBatch(input_ids, mask, features, None, truncations)
