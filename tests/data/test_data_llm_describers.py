"""The `hf` describer and merger on a tiny random-init transformers model saved to a temp dir,
and the `endpoint` describer and merger against a small HTTP server on 127.0.0.1 that speaks
the OpenAI chat-completions protocol (it stands in for a vLLM server, which cannot run here)."""

from __future__ import annotations

from affectgpt.data.config import DescribersConfig, EndpointDescriberConfig, HFDescriberConfig, MergerConfig
from affectgpt.data.describers import make_describer
from affectgpt.data.merger import LLMMerger
from affectgpt.data.signals import ClipSignals
from affectgpt.media import load_clip


def _signals() -> ClipSignals:
    return ClipSignals(duration_s=3.0, audio_duration_s=3.0, speech_segments_s=[(0.2, 2.8)], speech_s=2.6,
                       frame_times_s=[0.0, 1.0, 2.0], face_found=[True] * 3, face_ratio=1.0,
                       fer_probs={"happy": 0.7, "neutral": 0.2, "sad": 0.1}, pitch_median_hz=180.0,
                       pitch_std_semitones=3.0, energy_dbfs=-16.0, words_per_s=3.9)


def test_hf_describer_and_merger_generate_greedily(tiny_lm):
    config = DescribersConfig(hf=[HFDescriberConfig(name="tiny", model_path=str(tiny_lm), modality="audio",
                                                    max_new_tokens=12)])
    describer = make_describer("tiny", config)
    first = describer.describe({"subtitle": "hi"}, _signals())
    assert first and first == describer.describe({"subtitle": "hi"}, _signals())  # greedy: reproducible
    assert describer.modality == "audio" and len(describer.version) == 12
    merger = LLMMerger(MergerConfig(kind="hf", model_path=str(tiny_lm), max_new_tokens=10))
    assert merger.merge({"audio": first, "visual": "A smile.", "text": "hi"})


def _describe_content_kinds(body: dict) -> str:
    """Replies naming the content-part kinds it received, so the test sees what was sent."""
    content = body["messages"][0]["content"]
    kinds = [part["type"] for part in content] if isinstance(content, list) else ["text"]
    return f"The person looks happy ({'+'.join(kinds)})."


def test_endpoint_describer_sends_image_and_audio_parts(chat_endpoint, demo_corpus, monkeypatch):
    server = chat_endpoint(_describe_content_kinds)
    chat_server = server.url
    monkeypatch.setenv("TEST_VLLM_KEY", "secret")
    media = load_clip(demo_corpus / "raw" / "demo_00000.mp4", demo_corpus / "raw" / "demo_00000.wav")
    config = DescribersConfig(endpoint=[
        EndpointDescriberConfig(name="vid", url=chat_server, model="m-v", modality="visual", api_key_env="TEST_VLLM_KEY"),
        EndpointDescriberConfig(name="aud", url=chat_server, model="m-a", modality="audio"),
    ])
    visual = make_describer("vid", config).describe({}, _signals(), media)
    audio = make_describer("aud", config).describe({}, _signals(), media)
    assert visual == "The person looks happy (text+image_url+image_url+image_url+image_url)."
    assert audio == "The person looks happy (text+input_audio)."
    first, second = server.requests
    assert first["path"] == "/v1/chat/completions" and first["auth"] == "Bearer secret"
    assert first["body"]["model"] == "m-v" and first["body"]["temperature"] == 0.0
    assert first["body"]["messages"][0]["content"][1]["image_url"]["url"].startswith("data:image/jpeg;base64,")
    assert second["body"]["messages"][0]["content"][1]["input_audio"]["format"] == "wav"
    merger = LLMMerger(MergerConfig(kind="endpoint", url=chat_server, model="m-merge"))
    assert merger.merge({"audio": audio, "visual": visual, "text": "hi"}).startswith("The person looks happy")
    assert "emotion" in server.requests[-1]["body"]["messages"][0]["content"]
