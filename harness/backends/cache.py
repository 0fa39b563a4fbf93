"""Resume-safe store of generated samples (SQLite, one row per sample, committed per question).

lmms-eval's own response cache serves deterministic requests only and its results are written
at the end of a run; Pass@K runs are long and sampled, so medbridge persists every completion
as soon as its question is done. A row's key covers everything that decides the sample: the
checkpoint fingerprint, the request (task, split, doc id, prompt text and image bytes), the
generation settings and the seed; ``idx`` is the sample's position among the question's K.
Commits use ``synchronous=FULL`` so a completed question survives ``kill -9``.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import threading
from pathlib import Path



def default_path() -> Path:
    """``samples.sqlite`` under medbridge's cache root (``$MEDBRIDGE_CACHE``, else
    ``$XDG_CACHE_HOME/medbridge``, else ``~/.cache/medbridge``)."""
    from ..host import cache_root

    return cache_root() / "samples.sqlite"


def sample_key(**parts) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


class SampleCache:
    def __init__(self, path: str | os.PathLike | None = None, fresh: bool = False):
        self.path = Path(path) if path else default_path()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.fresh = fresh  # ignore what is stored and overwrite it
        self._lock = threading.Lock()
        self._db = sqlite3.connect(str(self.path), timeout=120, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute("CREATE TABLE IF NOT EXISTS samples (key TEXT NOT NULL, idx INTEGER NOT NULL, text TEXT NOT NULL, n_tokens INTEGER, PRIMARY KEY (key, idx))")
        # one row per generate_until call: how much a (re)run reused and generated
        self._db.execute("CREATE TABLE IF NOT EXISTS usage (at REAL, pid INTEGER, reused INTEGER, generated INTEGER)")
        self._db.commit()
        self.hits = 0
        self.generated = 0

    def get(self, key: str, n: int) -> list[tuple[str, int]] | None:
        """All n samples of a question, or None if any is missing (then all n are regenerated:
        per-question seeding makes them identical to the stored ones)."""
        if self.fresh:
            return None
        with self._lock:
            rows = self._db.execute("SELECT idx, text, n_tokens FROM samples WHERE key = ? AND idx < ? ORDER BY idx", (key, n)).fetchall()
        if len(rows) < n:
            return None
        self.hits += n
        return [(text, tokens) for _, text, tokens in rows]

    def put(self, key: str, samples: list[tuple[str, int]]) -> None:
        with self._lock:
            self._db.executemany(
                "INSERT OR REPLACE INTO samples (key, idx, text, n_tokens) VALUES (?, ?, ?, ?)",
                [(key, i, text, tokens) for i, (text, tokens) in enumerate(samples)],
            )
            self._db.commit()
        self.generated += len(samples)

    def log_usage(self) -> None:
        import time

        with self._lock:
            self._db.execute("INSERT INTO usage VALUES (?, ?, ?, ?)", (time.time(), os.getpid(), self.hits, self.generated))
            self._db.commit()

    def count(self) -> int:
        with self._lock:
            return self._db.execute("SELECT COUNT(*) FROM samples").fetchone()[0]

    def close(self) -> None:
        with self._lock:
            self._db.close()
