"""MiniLM text embeddings: one encoder per process shared by the feature step and the
high-level filter's text classifier (same vectors for the same text), and the per-text
embedding cache: cached vectors are the encoder's own (bit for bit after the JSON round trip),
one entry per distinct text, and new texts are added next to the old ones."""

from __future__ import annotations

import numpy as np
import pandas as pd

from affectgpt.features import text as text_embedding
from affectgpt.features.text import EMBEDDING_COMPONENT, embed_texts


def test_embeddings_are_cached_per_text(tmp_path):
    texts = ["I can't believe you did this to me!", "What a lovely surprise.", "I can't believe you did this to me!"]
    direct = embed_texts(texts)
    first = embed_texts(texts, cache_dir=tmp_path)
    np.testing.assert_array_equal(first, direct)
    entries = sorted((tmp_path / EMBEDDING_COMPONENT).rglob("*.json"))
    assert len(entries) == 2  # the repeated text is stored once
    again = embed_texts(texts, cache_dir=tmp_path)  # read back from the cache
    np.testing.assert_array_equal(again, direct)
    more = embed_texts(["Leave me alone.", *texts], cache_dir=tmp_path)
    np.testing.assert_array_equal(more[1:], direct)
    np.testing.assert_array_equal(more[0], embed_texts(["Leave me alone."])[0])
    assert len(list((tmp_path / EMBEDDING_COMPONENT).rglob("*.json"))) == 3


def test_feature_step_and_text_classifier_share_one_encoder(tmp_path, monkeypatch):
    """Both call sites embed with the same model object, loaded once, and see the same vectors."""
    import sentence_transformers

    from affectgpt.data.classifiers import train_text_classifiers
    from affectgpt.features.ingest import view_rows

    constructed = []
    real_class = sentence_transformers.SentenceTransformer

    class CountingSentenceTransformer(real_class):
        def __init__(self, *args, **kwargs):
            constructed.append(args)
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(sentence_transformers, "SentenceTransformer", CountingSentenceTransformer)
    text_embedding.load_text_encoder.cache_clear()
    try:
        subtitles = ["I am so happy today!", "This is terrible news.", "Nothing much happened.",
                     "Why would you do that?", "What a wonderful gift.", "I hate waiting."]
        training = pd.DataFrame({"text": subtitles, "emotion": ["happy", "sad", "neutral", "angry", "happy", "angry"],
                                 "sentiment": ["positive", "negative", "neutral", "negative", "positive", "negative"]})
        classifiers = train_text_classifiers(training, "test rows", tmp_path / "classifiers")
        emotion_probs, _ = classifiers.predict(subtitles)
        table = pd.DataFrame({"clip_id": [f"c{i}" for i in range(len(subtitles))], "subtitle": subtitles})
        rows, _ = view_rows(table, "clip_embeddings")  # the feature step's call site
        feature_vectors = np.stack(rows["text_emb"].tolist())
        assert len(constructed) == 1, f"MiniLM was loaded {len(constructed)} times"
        assert text_embedding.load_text_encoder.cache_info().currsize == 1
        np.testing.assert_array_equal(feature_vectors.astype(np.float32), embed_texts(subtitles))
        np.testing.assert_allclose(emotion_probs, classifiers.emotion.predict_proba(feature_vectors), rtol=1e-6)
    finally:
        text_embedding.load_text_encoder.cache_clear()  # later tests load the real class again
