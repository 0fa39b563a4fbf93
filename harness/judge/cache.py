"""Persistent judge verdicts (SQLite), so a rerun or a resumed run asks the judge nothing twice.

Like the sample cache (``harness/backends/cache.py``): WAL, ``synchronous=FULL``, one
committed row per verdict as soon as it exists. The key hashes the judge model, the prompt
template's hash, and the item (question, options, reference, extracted answer, images when the
template sends them), so another judge or an edited prompt never reuses a verdict. Only valid
verdicts are stored: a judge error is retried by the next run. Rows hold no credentials (the
API key is never part of a key or a row).
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
from pathlib import Path

from ..host import cache_root
from ..sqlite_store import open_store


def default_path() -> Path:
    """``judge.sqlite`` under medbridge's cache root (``host.cache_root``), beside the sample cache."""
    return cache_root() / "judge.sqlite"


def verdict_key(**parts) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


class VerdictCache:
    def __init__(self, path: str | os.PathLike | None = None):
        self.path = Path(path) if path else default_path()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = open_store(
            self.path,
            "CREATE TABLE IF NOT EXISTS verdicts (key TEXT PRIMARY KEY, judge_model TEXT NOT NULL, template TEXT NOT NULL, verdict TEXT NOT NULL, at REAL)",
        )

    def get(self, key: str) -> str | None:
        with self._lock:
            row = self._db.execute("SELECT verdict FROM verdicts WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def put(self, key: str, *, judge_model: str, template: str, verdict: str) -> None:
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO verdicts (key, judge_model, template, verdict, at) VALUES (?, ?, ?, ?, ?)",
                (key, judge_model, template, verdict, time.time()),
            )
            self._db.commit()

    def count(self) -> int:
        with self._lock:
            return self._db.execute("SELECT COUNT(*) FROM verdicts").fetchone()[0]

    def close(self) -> None:
        with self._lock:
            self._db.close()
