"""Drift on real transcripts: MELD (English TV dialogue) vs CMU-MOSI (spoken movie reviews),
embedded with MiniLM. The report must flag embedding and text drift between the corpora, and
nothing between two disjoint random halves of MELD."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from affectgpt.features.text import TEXT_EMBEDDING_DIM, embed_texts
from affectgpt.monitor import drift_report

N_MELD = 200
N_MOSI = 100


def _transcripts(root: Path, dataset: str, n_rows: int) -> pd.DataFrame:
    table = pd.read_csv(root / "MERBench" / "dataset" / f"{dataset}-process" / "transcription-engchi-polish.csv")
    table = table.dropna(subset=["english"])
    table = table[table["english"].str.strip().str.len() > 0]
    return table.sample(n_rows, random_state=7).reset_index(drop=True)


@pytest.fixture(scope="module")
def corpora(mertools: Path) -> dict[str, pd.DataFrame]:
    frames = {}
    for name, dataset, n_rows in (("meld", "meld", N_MELD), ("mosi", "cmumosi", N_MOSI)):
        table = _transcripts(mertools, dataset, n_rows)
        vectors = embed_texts(table["english"].tolist())
        frames[name] = pd.DataFrame({
            "clip_id": table["name"].astype(str),
            "subtitle": table["english"],
            "text_emb": list(vectors),
        })
    return frames


def test_minilm_embeddings_are_unit_384d(corpora: dict[str, pd.DataFrame]) -> None:
    vectors = np.vstack(corpora["meld"]["text_emb"].to_list())
    assert vectors.shape == (N_MELD, TEXT_EMBEDDING_DIM)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)


def test_meld_vs_mosi_flags_embedding_and_text_drift(corpora: dict[str, pd.DataFrame], tmp_path: Path) -> None:
    reference = corpora["meld"].iloc[:N_MOSI]
    summary = drift_report(reference, corpora["mosi"], tmp_path)

    checks = {check.column: check for check in summary.columns}
    assert checks["text_emb"].drifted, checks["text_emb"]
    assert checks["subtitle"].kind == "text_content" and checks["subtitle"].drifted
    # MOSI transcripts carry no punctuation: the non-letter share must move.
    assert checks["subtitle.non_letter_share"].drifted
    assert summary.groups["embeddings"].triggered and summary.groups["text"].triggered
    assert summary.retrain and any(reason.startswith("embeddings") for reason in summary.reasons)

    written = json.loads((tmp_path / "drift.json").read_text())
    assert written["retrain"] is True
    per_column = {c["column"]: c for c in written["columns"]}
    assert set(per_column["text_emb"]) >= {"test", "statistic", "drifted"}
    page = (tmp_path / "drift.html").read_text(encoding="utf-8")
    assert "Drift decision: RETRAIN" in page and "text_emb.pc1" in page
    assert (tmp_path / "manifest.json").is_file()


def test_meld_random_halves_show_no_drift(corpora: dict[str, pd.DataFrame], tmp_path: Path) -> None:
    meld = corpora["meld"]
    order = np.random.default_rng(11).permutation(len(meld))
    half = len(meld) // 2
    summary = drift_report(meld.iloc[order[:half]], meld.iloc[order[half:]], tmp_path)

    assert not summary.retrain, summary.reasons
    checks = {check.column: check for check in summary.columns}
    assert not checks["text_emb"].drifted
    assert not checks["subtitle"].drifted
    assert summary.drifted_share <= 0.2
