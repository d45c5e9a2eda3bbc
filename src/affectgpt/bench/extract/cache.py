"""Disk cache for judge-LLM answers, keyed by (task, text hash, model id, prompt version).

An LLM judge is the slow, costly and (when sampled) non-deterministic part of scoring; caching
its greedy answers makes a re-run free and bit-for-bit repeatable. SQLite gives atomic writes
and safe concurrent readers without a server. (Not a per-file `ClipCache` on purpose: a scoring
run makes many thousands of short answers, read and written by parallel scorers, and counts its
hits; one SQLite file does that where a file per answer would not.)
"""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path


def text_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class ExtractionCache:
    """A persistent key -> answer map. `get` returns None on a miss."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS answers (task TEXT, text_sha256 TEXT, model_id TEXT, "
            "prompt_version TEXT, answer TEXT, PRIMARY KEY (task, text_sha256, model_id, prompt_version))"
        )
        self.hits = 0
        self.misses = 0

    def get(self, task: str, text: str, model_id: str, prompt_version: str) -> str | None:
        row = self._db.execute(
            "SELECT answer FROM answers WHERE task=? AND text_sha256=? AND model_id=? AND prompt_version=?",
            (task, text_hash(text), model_id, prompt_version),
        ).fetchone()
        if row is None:
            self.misses += 1
            return None
        self.hits += 1
        return row[0]

    def put(self, task: str, text: str, model_id: str, prompt_version: str, answer: str) -> None:
        self._db.execute(
            "INSERT OR REPLACE INTO answers VALUES (?, ?, ?, ?, ?)",
            (task, text_hash(text), model_id, prompt_version, answer),
        )

    def __len__(self) -> int:
        return self._db.execute("SELECT COUNT(*) FROM answers").fetchone()[0]

    def close(self) -> None:
        self._db.close()
