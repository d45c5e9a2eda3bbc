"""The per-text MiniLM embedding cache of the high-level filter: cached vectors are the encoder's
own (bit for bit after the JSON round trip), one entry per distinct text, and new texts are
added next to the old ones."""

from __future__ import annotations

import numpy as np

from affectgpt.data.classifiers import EMBEDDING_COMPONENT, embed_texts


def test_embeddings_are_cached_per_text(tmp_path):
    texts = ["I can't believe you did this to me!", "What a lovely surprise.", "I can't believe you did this to me!"]
    direct = embed_texts(texts)
    first = embed_texts(texts, tmp_path)
    np.testing.assert_array_equal(first, direct)
    entries = sorted((tmp_path / EMBEDDING_COMPONENT).rglob("*.json"))
    assert len(entries) == 2  # the repeated text is stored once
    again = embed_texts(texts, tmp_path)  # read back from the cache
    np.testing.assert_array_equal(again, direct)
    more = embed_texts(["Leave me alone.", *texts], tmp_path)
    np.testing.assert_array_equal(more[1:], direct)
    np.testing.assert_array_equal(more[0], embed_texts(["Leave me alone."])[0])
    assert len(list((tmp_path / EMBEDDING_COMPONENT).rglob("*.json"))) == 3
