"""The `hf` describer on tiny random-init multimodal transformers models saved to a temp dir
with their processors: a LLaVA (CLIP vision tower + Qwen2 text model) for the visual clue, a
Qwen2-Audio (Whisper-style audio encoder + Qwen2 text model) and a Whisper speech seq2seq model
for the audio clue. Tokenizers are trained in-process with `tokenizers`; nothing comes from the hub."""

from __future__ import annotations

import numpy as np
import pytest
from data_testkit import fast_config

from affectgpt.data.clipwork import ClipWorker
from affectgpt.data.config import DescribersConfig, HFDescriberConfig
from affectgpt.data.describers import make_describer
from affectgpt.data.describers.hf import N_IMAGES, face_images
from affectgpt.data.ingest import ingest
from affectgpt.data.signals import ClipSignals
from affectgpt.llm_client import _local_media_model, local_model_kind
from affectgpt.media import load_clip

CHAT_TEMPLATE = (
    "{% for m in messages %}<|{{ m['role'] }}|>{% if m['content'] is string %}{{ m['content'] }}{% else %}"
    "{% for c in m['content'] %}{% if c['type'] == 'image' %}<image>{% elif c['type'] == 'audio' %}"
    "<|audio_bos|><|AUDIO|><|audio_eos|>{% else %}{{ c['text'] }}{% endif %}{% endfor %}{% endif %}\n"
    "{% endfor %}{% if add_generation_prompt %}<|assistant|>{% endif %}")


def _tokenizer(media_tokens: list[str]):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    texts = ["The speaker sounds happy and excited.", "The face looks sad and tired.", "A calm voice."] * 50
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator(texts, trainers.BpeTrainer(vocab_size=300, special_tokens=["<|endoftext|>", "<pad>", *media_tokens],
                                                       initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    return PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|endoftext|>", pad_token="<pad>",
                                   additional_special_tokens=media_tokens)


def _text_config(vocab_size: int):
    from transformers import Qwen2Config

    return Qwen2Config(vocab_size=vocab_size, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                       num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=2048)


@pytest.fixture(scope="module")
def tiny_vlm(tmp_path_factory):
    """LLaVA: 30x30 images in 6x6 patches -> 25 image tokens per image."""
    import torch
    from transformers import (
        CLIPImageProcessor,
        CLIPVisionConfig,
        LlavaConfig,
        LlavaForConditionalGeneration,
        LlavaProcessor,
    )

    torch.manual_seed(0)
    tokenizer = _tokenizer(["<image>"])
    config = LlavaConfig(vision_config=CLIPVisionConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                                                        num_attention_heads=2, image_size=30, patch_size=6),
                         text_config=_text_config(len(tokenizer)), image_token_id=tokenizer.convert_tokens_to_ids("<image>"),
                         vision_feature_layer=-1)
    processor = LlavaProcessor(image_processor=CLIPImageProcessor(size={"shortest_edge": 30},
                                                                  crop_size={"height": 30, "width": 30}),
                               tokenizer=tokenizer, patch_size=6, vision_feature_select_strategy="default",
                               num_additional_image_tokens=1, chat_template=CHAT_TEMPLATE)
    path = tmp_path_factory.mktemp("tiny-vlm")
    LlavaForConditionalGeneration(config).save_pretrained(path)
    processor.save_pretrained(path)
    return path


@pytest.fixture(scope="module")
def tiny_audio_lm(tmp_path_factory):
    """Qwen2-Audio: 80 mel bins (Whisper features), a one-layer audio encoder."""
    import torch
    from transformers import (
        Qwen2AudioConfig,
        Qwen2AudioEncoderConfig,
        Qwen2AudioForConditionalGeneration,
        Qwen2AudioProcessor,
        WhisperFeatureExtractor,
    )

    torch.manual_seed(0)
    tokenizer = _tokenizer(["<|AUDIO|>", "<|audio_bos|>", "<|audio_eos|>"])
    config = Qwen2AudioConfig(audio_config=Qwen2AudioEncoderConfig(num_mel_bins=80, encoder_layers=1, encoder_attention_heads=2,
                                                                   encoder_ffn_dim=64, d_model=32),
                              text_config=_text_config(len(tokenizer)),
                              audio_token_index=tokenizer.convert_tokens_to_ids("<|AUDIO|>"))
    processor = Qwen2AudioProcessor(feature_extractor=WhisperFeatureExtractor(feature_size=80), tokenizer=tokenizer,
                                    chat_template=CHAT_TEMPLATE)
    path = tmp_path_factory.mktemp("tiny-audio-lm")
    Qwen2AudioForConditionalGeneration(config).save_pretrained(path)
    processor.save_pretrained(path)
    return path


@pytest.fixture(scope="module")
def tiny_speech_seq2seq(tmp_path_factory):
    """Whisper: 80 mel bins, one encoder and one decoder layer."""
    import torch
    from transformers import (
        WhisperConfig,
        WhisperFeatureExtractor,
        WhisperForConditionalGeneration,
        WhisperProcessor,
    )

    torch.manual_seed(0)
    tokenizer = _tokenizer(["<|startoftranscript|>", "<|notimestamps|>"])
    ids = {token: tokenizer.convert_tokens_to_ids(token)
           for token in ("<|endoftext|>", "<pad>", "<|startoftranscript|>", "<|notimestamps|>")}
    config = WhisperConfig(vocab_size=len(tokenizer), num_mel_bins=80, d_model=32, encoder_layers=1, decoder_layers=1,
                           encoder_attention_heads=2, decoder_attention_heads=2, encoder_ffn_dim=64, decoder_ffn_dim=64,
                           max_target_positions=64, decoder_start_token_id=ids["<|startoftranscript|>"],
                           eos_token_id=ids["<|endoftext|>"], bos_token_id=ids["<|endoftext|>"], pad_token_id=ids["<pad>"])
    model = WhisperForConditionalGeneration(config)
    model.generation_config.no_timestamps_token_id = ids["<|notimestamps|>"]
    # random weights: keep them from ending at once or writing only special tokens
    model.generation_config.suppress_tokens = [ids["<pad>"], ids["<|startoftranscript|>"], ids["<|notimestamps|>"]]
    model.generation_config.begin_suppress_tokens = [ids["<|endoftext|>"]]
    path = tmp_path_factory.mktemp("tiny-whisper")
    model.save_pretrained(path)
    WhisperProcessor(feature_extractor=WhisperFeatureExtractor(feature_size=80), tokenizer=tokenizer).save_pretrained(path)
    return path


def _record_inputs(model_path, tower_name: str) -> list[tuple]:
    """Shapes of the first tensor each call of the model's media tower receives."""
    model = _local_media_model(str(model_path))[2]
    seen: list[tuple] = []
    model.get_submodule(tower_name).register_forward_hook(
        lambda module, args, kwargs, output: seen.append(
            tuple(next(value for value in (*args, *kwargs.values()) if hasattr(value, "shape")).shape)),
        with_kwargs=True)
    return seen


@pytest.fixture(scope="module")
def demo_media(demo_corpus):
    return load_clip(demo_corpus / "raw" / "demo_00000.mp4", demo_corpus / "raw" / "demo_00000.wav")


def test_model_kind_comes_from_the_config(tiny_vlm, tiny_audio_lm):
    assert local_model_kind(str(tiny_vlm)) == "vision"
    assert local_model_kind(str(tiny_audio_lm)) == "audio"


def test_vision_describer_sees_face_crops(tiny_vlm, demo_media):
    config = DescribersConfig(hf=[HFDescriberConfig(name="vlm", model_path=str(tiny_vlm), modality="visual",
                                                    max_new_tokens=8)])
    describer = make_describer("vlm", config)
    assert describer.needs_media and describer.kind == "vision"
    images = face_images(demo_media)
    assert 0 < len(images) <= N_IMAGES and images[0].dtype == np.uint8
    seen = _record_inputs(tiny_vlm, "model.vision_tower")
    first = describer.describe({"subtitle": "hi"}, None, demo_media)
    assert first and first == describer.describe({"subtitle": "hi"}, None, demo_media)  # greedy: reproducible
    assert seen[0] == (len(images), 3, 30, 30)  # every crop went through the processor into the vision tower


def test_audio_describer_hears_the_clip(tiny_audio_lm, demo_media):
    config = DescribersConfig(hf=[HFDescriberConfig(name="alm", model_path=str(tiny_audio_lm), modality="audio",
                                                    max_new_tokens=8)])
    describer = make_describer("alm", config)
    assert describer.needs_media and describer.kind == "audio"
    seen = _record_inputs(tiny_audio_lm, "model.audio_tower")
    first = describer.describe({"subtitle": "hi"}, None, demo_media)
    assert first and first == describer.describe({"subtitle": "hi"}, None, demo_media)
    assert seen[0][:2] == (1, 80)  # one clip's log-mel features reached the audio encoder


def test_speech_seq2seq_describer_hears_the_clip(tiny_speech_seq2seq, demo_media):
    assert local_model_kind(str(tiny_speech_seq2seq)) == "speech_seq2seq"
    config = DescribersConfig(hf=[HFDescriberConfig(name="asr", model_path=str(tiny_speech_seq2seq), modality="audio",
                                                    max_new_tokens=6)])
    describer = make_describer("asr", config)
    assert describer.needs_media and describer.kind == "speech_seq2seq"
    seen = _record_inputs(tiny_speech_seq2seq, "model.encoder")
    first = describer.describe({"subtitle": "hi"}, None, demo_media)
    assert first and first == describer.describe({"subtitle": "hi"}, None, demo_media)
    assert seen[0] == (1, 80, 3000)  # 30 s of Whisper log-mel features (the clip, zero-padded)


def test_media_model_on_the_wrong_modality_is_refused(tiny_vlm):
    config = DescribersConfig(hf=[HFDescriberConfig(name="vlm-as-audio", model_path=str(tiny_vlm), modality="audio")])
    with pytest.raises(ValueError, match="vlm-as-audio.*vision model.*audio clue"):
        make_describer("vlm-as-audio", config)


def test_build_worker_runs_and_caches_the_vision_describer(tiny_vlm, demo_corpus, tmp_path):
    config = fast_config(tmp_path / "cache")
    config.describers.hf = [HFDescriberConfig(name="vlm", model_path=str(tiny_vlm), modality="visual", max_new_tokens=6)]
    config.describers.visual = "vlm"
    clip = ingest(demo_corpus / "raw", config.ingest).clips[0]
    worker = ClipWorker(config, config.cache_dir)
    first = worker.process(clip)
    assert first["error"] is None and first["prefilter"]["kept"], first
    assert first["computed"] == ["signals", "acoustic", "vlm"] and first["clues"]["visual"]
    assert first["describers"]["vlm"] == worker.describers["visual"].version
    again = worker.process(clip)  # cache hit: nothing recomputed, same clue
    assert again["computed"] == [] and again["clues"] == first["clues"]
    assert ClipSignals.from_json(again["signals"]).face_ratio > 0
