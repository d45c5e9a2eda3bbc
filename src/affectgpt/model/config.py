"""`AffectGPTConfig`: the one object the model, the trainer and inference read.

A YAML file (configs/tiny.yaml, configs/affectgpt-7b.yaml) is validated into it, so a typo in a
config fails at load time with the file and field named, not hours into a run.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from affectgpt.config import load_yaml_model
from affectgpt.errors import BadInput, ExitCode, NotFound
from affectgpt.model.encoder_config import EncoderConfig

Precision = Literal["fp32", "bf16", "fp16"]
FusionKind = Literal["attention", "qformer", "none"]

# Characters of subtitle per token of the prompt budget above which a served subtitle is refused.
# Qwen2.5's BPE averages about 4 characters a token on English and under 2 on Chinese; only
# degenerate text packs 8, so a longer subtitle could never have fitted the prompt whole.
SUBTITLE_CHARS_PER_TOKEN = 8


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class LLMConfig(_Strict):
    """Which causal LM carries the language side.

    `init: pretrained` loads `name_or_path` (a local folder or a hub id already in the cache);
    `init: random` builds the architecture in `architecture` (Qwen2Config keyword arguments) with
    random weights, which is what the tiny config and the meta-device summary use.
    """

    name_or_path: str | None = None
    init: Literal["pretrained", "random"] = "pretrained"
    architecture: dict[str, Any] | None = Field(
        default=None, description="Qwen2Config kwargs; used for random init and for the meta-device summary"
    )
    tokenizer: Literal["pretrained", "train-bpe"] = "pretrained"
    tokenizer_vocab_size: int = Field(default=2000, ge=300, description="target vocabulary of the in-process BPE")

    @model_validator(mode="after")
    def _consistent(self) -> LLMConfig:
        if self.init == "pretrained" and not self.name_or_path:
            raise ValueError("llm.init is 'pretrained' but llm.name_or_path is empty; give a local folder or model id")
        if self.init == "random" and not self.architecture:
            raise ValueError("llm.init is 'random' but llm.architecture is missing; give Qwen2Config values")
        if self.tokenizer == "pretrained" and not self.name_or_path:
            raise ValueError("llm.tokenizer is 'pretrained' but llm.name_or_path is empty; use 'train-bpe' instead")
        return self


class PoolingConfig(_Strict):
    """Temporal attention pooling: s_t = w.z_t + b, z = sum_t s_t z_t (the official code does not
    normalise the scores; `softmax` is offered for stability)."""

    normalize: Literal["none", "softmax"] = "none"


class FusionConfig(_Strict):
    """Pre-fusion as upstream: `hidden_dim` is max(audio, visual) width there (1024 for the
    paper); attention weights without softmax (`weights: softmax` is a deviation); the Q-Former
    is BERT-base-style (`qformer_width` 768, 12 heads, 2 layers) with K queries, initialised as
    upstream's randomly built BertLMHeadModel (`qformer_init: bert`, normal std 0.02; `torch`
    is PyTorch's default Linear init, a deviation)."""

    kind: FusionKind = "attention"
    hidden_dim: int = Field(default=1024, ge=1, description="width both modalities are mapped to before fusing")
    visual: Literal["face", "frame"] = "face"
    weights: Literal["none", "softmax"] = "none"
    qformer_queries: int = Field(default=1, ge=1)
    qformer_layers: int = Field(default=2, ge=1)
    qformer_heads: int = Field(default=12, ge=1)
    qformer_width: int = Field(default=768, ge=1)
    qformer_init: Literal["bert", "torch"] = "bert"

    @model_validator(mode="after")
    def _heads_divide(self) -> FusionConfig:
        if self.kind == "qformer" and self.qformer_width % self.qformer_heads:
            raise ValueError(f"fusion.qformer_width {self.qformer_width} is not divisible by "
                             f"fusion.qformer_heads {self.qformer_heads}")
        return self


class LoRAConfig(_Strict):
    r: int = Field(default=16, ge=1)
    alpha: int = Field(default=32, ge=1)
    dropout: float = Field(default=0.05, ge=0.0, lt=1.0)
    target_modules: list[str] = Field(
        default_factory=lambda: ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
    )


class PromptConfig(_Strict):
    """Which modality tokens the prompt carries (the paper's setup: fused, audio and face; the
    sentences always follow upstream's order multi, audio, face, frame) and where bos goes.

    Upstream prepends the tokenizer's bos (`<|im_start|>` for Qwen2.5) to training samples and
    not to inference prompts; `bos_at_inference: true` removes that mismatch (a deviation).
    Upstream uses subtitles and descriptions as written; `strip_text: true` strips surrounding
    whitespace first (a deviation). Upstream caps prompt + target at `train.max_length` with bos
    and eos on top (up to max_length + 2 tokens); `length_cap: with-specials` counts them in.

    `max_subtitle_chars` bounds a served request's subtitle (the pyfunc refuses that row): by
    default SUBTITLE_CHARS_PER_TOKEN characters per token of `train.max_length`, far more than
    the prompt can hold (it cuts a long subtitle to its token budget anyway), so nothing the
    model could have read is refused, while a megabyte is never tokenised."""

    modalities: list[Literal["multi", "audio", "face", "frame"]] = Field(
        default_factory=lambda: ["multi", "audio", "face"]
    )
    bos_in_training: bool = True
    bos_at_inference: bool = False
    strip_text: bool = False
    length_cap: Literal["text", "with-specials"] = "text"
    max_subtitle_chars: int | None = Field(default=None, ge=1, description="longest subtitle a served request "
                                           "may carry; None = SUBTITLE_CHARS_PER_TOKEN x train.max_length")


class TrainConfig(_Strict):
    """The training recipe. Defaults are upstream's (train yaml, LAVIS runner_base/optims): AdamW
    (0.9, 0.999), weight decay 0.05 except biases/norms/<2-dim parameters, constant lr 1e-5,
    batch 3, `iters_per_epoch` micro-batches per epoch drawn from successive shuffled passes.
    Deliberate changes are named: `grad_clip` (upstream: none, 0 here), `select: best-val`
    (upstream picks the best epoch per test set; we never read test data)."""

    optimizer: Literal["adamw"] = "adamw"
    lr: float = Field(default=1e-5, gt=0)
    weight_decay: float = Field(default=0.05, ge=0)
    decay_exemptions: bool = Field(default=True, description="no decay for biases, norms and <2-dim params (upstream)")
    betas: tuple[float, float] = (0.9, 0.999)
    schedule: Literal["constant", "cosine"] = "constant"
    warmup_steps: int = Field(default=0, ge=0)
    min_lr_ratio: float = Field(default=0.0, ge=0, le=1)
    micro_batch_size: int = Field(default=3, ge=1)
    grad_accumulation: int = Field(default=1, ge=1)
    global_batch_size: int | None = Field(default=None, description="if set, must equal micro x accumulation x world "
                                          "size (`batch_policy: exact`) or micro x accumulation (`per-rank`)")
    batch_policy: Literal["exact", "per-rank"] = Field(
        default="exact", description="exact: the global batch is fixed, so the world size must divide it; per-rank: "
        "`global_batch_size` is the one-GPU batch, every rank runs it (global = it x world size) and "
        "`iters_per_epoch` is split over the ranks, so an epoch draws as many samples as on one GPU")
    epochs: int = Field(default=1, ge=1)
    iters_per_epoch: int | None = Field(default=None, ge=1, description="micro-batches per epoch from a stream of "
                                        "successive seeded shuffles (upstream: 5000); None = one pass per epoch")
    max_steps: int | None = Field(default=None, ge=1, description="optimizer steps; overrides epochs when set")
    zero_stage: int = Field(default=0, ge=0, le=3)
    precision: Precision = "fp32"
    grad_clip: float = Field(default=1.0, ge=0, description="max gradient norm; 0 = no clipping (upstream)")
    select: Literal["best-val", "last"] = Field(default="best-val", description="which weights the model folder "
                                                "gets: best validation loss (deliberate change) or the last step")
    seed: int = 42
    checkpoint_every: int = Field(default=100, ge=1, description="optimizer steps between checkpoints")
    keep_checkpoints: int = Field(default=2, ge=1)
    eval_every: int | None = Field(default=None, ge=1, description="extra validation every N steps (always each epoch)")
    max_length: int = Field(default=1024, ge=16)
    mlflow_experiment: str = "affectgpt-train"


class FeatureDims(_Strict):
    """Widths of the cached encoder features. Derived from tiny encoder specs; for pretrained
    encoders give them here (768 for CLIP ViT-L/14, 1024 for HuBERT-large) so the model can be
    built, and summarised on the meta device, without loading the encoders."""

    vision: int | None = Field(default=None, ge=1)
    audio: int | None = Field(default=None, ge=1)


class AffectGPTConfig(_Strict):
    name: str = "affectgpt"
    encoders: EncoderConfig = Field(default_factory=EncoderConfig)
    feature_dims: FeatureDims = Field(default_factory=FeatureDims)
    llm: LLMConfig
    pooling: PoolingConfig = Field(default_factory=PoolingConfig)
    fusion: FusionConfig = Field(default_factory=FusionConfig)
    lora: LoRAConfig = Field(default_factory=LoRAConfig)
    prompt: PromptConfig = Field(default_factory=PromptConfig)
    train: TrainConfig = Field(default_factory=TrainConfig)

    @model_validator(mode="after")
    def _prompt_matches_fusion(self) -> AffectGPTConfig:
        if self.fusion.kind == "none" and "multi" in self.prompt.modalities:
            raise ValueError("fusion.kind is 'none' but prompt.modalities lists 'multi'; drop 'multi' or pick a fusion")
        self.modality_dims()  # fails early when a pretrained encoder has no declared width
        return self

    def tokens_per_modality(self) -> dict[str, int]:
        """Embeddings spliced per placeholder: K Q-Former queries for `multi`, else 1 (upstream's
        num_*_query_token = 1 in the paper's train config)."""
        counts = {name: 1 for name in self.prompt.modalities}
        if "multi" in counts and self.fusion.kind == "qformer":
            counts["multi"] = self.fusion.qformer_queries
        return counts

    def subtitle_char_limit(self) -> int:
        """The longest subtitle a served request may carry (`prompt.max_subtitle_chars`)."""
        return self.prompt.max_subtitle_chars or SUBTITLE_CHARS_PER_TOKEN * self.train.max_length

    def modality_dims(self) -> tuple[int, int]:
        """(vision_dim, audio_dim) of the features the model reads."""
        vision = self.feature_dims.vision
        if vision is None and self.encoders.vision.tiny is not None:
            vision = self.encoders.vision.tiny.projection_dim
        audio = self.feature_dims.audio
        if audio is None and self.encoders.audio.tiny is not None:
            audio = self.encoders.audio.tiny.hidden_size
        if vision is None or audio is None:
            raise ValueError("feature_dims.vision / feature_dims.audio must be set for pretrained encoders "
                             "(768 for CLIP ViT-L/14, 1024 for HuBERT-large)")
        return vision, audio


class ConfigError(BadInput, ValueError):
    """A config file that cannot be used; the message names the file and the field."""


class ConfigFileMissing(ConfigError, NotFound):
    """The config names no file here and no packaged config (exit 4, as every missing input)."""

    exit_code = ExitCode.NOT_FOUND


def load_config(path: str | Path) -> AffectGPTConfig:
    """Read and validate a YAML config, naming the file and each bad field on failure. A bare
    name of a packaged config (`affectgpt-7b.yaml`, `tiny.yaml`) works from any directory."""
    from affectgpt.paths import resolve_config

    path = resolve_config(path)
    if not path.is_file():
        raise ConfigFileMissing(f"{path}: config file not found")
    return load_yaml_model(path, AffectGPTConfig, ConfigError)


def world_size() -> int:
    import os

    return int(os.environ.get("WORLD_SIZE", "1"))


def check_global_batch(train: TrainConfig, n_processes: int | None = None) -> int:
    """The LLaVA invariant: global batch = micro batch x accumulation x world size. Returns it.
    Under `batch_policy: per-rank`, `global_batch_size` names the one-process batch (the paper's
    3 on one GPU) and the global batch grows with the world size."""
    n_processes = world_size() if n_processes is None else n_processes
    derived = train.micro_batch_size * train.grad_accumulation * n_processes
    if train.batch_policy == "per-rank":
        per_rank = train.micro_batch_size * train.grad_accumulation
        if train.global_batch_size is not None and train.global_batch_size != per_rank:
            raise ConfigError(
                f"train.global_batch_size {train.global_batch_size} != micro_batch_size {train.micro_batch_size} "
                f"x grad_accumulation {train.grad_accumulation} (= {per_rank}); with batch_policy per-rank it is "
                "the batch of one process")
        return derived
    if train.global_batch_size is not None and train.global_batch_size != derived:
        raise ConfigError(
            f"train.global_batch_size {train.global_batch_size} != micro_batch_size {train.micro_batch_size} "
            f"x grad_accumulation {train.grad_accumulation} x world size {n_processes} (= {derived}); "
            "change grad_accumulation, drop global_batch_size, or set batch_policy: per-rank"
        )
    return derived
