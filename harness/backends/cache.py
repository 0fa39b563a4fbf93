"""Resume-safe store of generated samples (SQLite, one row per sample, committed per question).

lmms-eval's own response cache serves deterministic requests only and its results are written
at the end of a run; Pass@K runs are long and sampled, so medbridge persists every completion
as soon as its question is done. A row's key covers everything that decides the sample: the
checkpoint fingerprint and engine settings, the request (task, split, doc id, messages and
image bytes), the generation settings, the seed and how samples are drawn; ``idx`` is the
sample's index within its question.

Whether the number of samples n is part of the key depends on the backend:

- **prefix-stable** backends (``medbridge_hf``: sample i is drawn from its own generator,
  seeded by the question's seed and i) store one series per question: the first 8 samples of
  a 16-sample run are exactly an 8-sample run, so a run with n = 8 reads rows 0..7 and a run
  with n = 16 after an n = 8 run generates rows 8..15 only;
- other backends (vLLM's and the API's ``n`` draw the n samples together) key by n, so a run
  with another n never sees another n's samples.

``fresh`` ignores what is stored and replaces all of a question's rows, so a fresh run with a
smaller n leaves no stale higher-index rows behind. Commits use ``synchronous=FULL`` so a
completed question survives ``kill -9``.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
from pathlib import Path

from ..sqlite_store import open_store

# Bump when what a key means changes (2: keyed by the chat messages, not the templated text;
# the sampling scheme and n where it matters are part of the key).
KEY_VERSION = 2


def default_path() -> Path:
    """``samples.sqlite`` under medbridge's cache root (``$MEDBRIDGE_CACHE``, else
    ``$XDG_CACHE_HOME/medbridge``, else ``~/.cache/medbridge``)."""
    from ..host import cache_root

    return cache_root() / "samples.sqlite"


def sample_key(**parts) -> str:
    return hashlib.sha256(json.dumps({"v": KEY_VERSION, **parts}, sort_keys=True, default=str).encode()).hexdigest()


class SampleCache:
    def __init__(self, path: str | os.PathLike | None = None, fresh: bool = False):
        self.path = Path(path) if path else default_path()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.fresh = fresh  # ignore what is stored and overwrite it
        self._lock = threading.Lock()
        self._db = open_store(
            self.path,
            "CREATE TABLE IF NOT EXISTS samples "
            "(key TEXT NOT NULL, idx INTEGER NOT NULL, text TEXT NOT NULL, n_tokens INTEGER, PRIMARY KEY (key, idx))",
            # one row per generate_until call: how much a (re)run reused and generated
            "CREATE TABLE IF NOT EXISTS usage (at REAL, pid INTEGER, reused INTEGER, generated INTEGER)",
        )
        self.hits = 0  # samples served from the store
        self.generated = 0  # samples written

    def get(self, key: str, n: int) -> list[tuple[str, int]]:
        """The stored samples 0, 1, … of a question, at most n and without gaps (fewer or none
        when the store holds fewer; always none with ``fresh``)."""
        if self.fresh:
            return []
        with self._lock:
            rows = self._db.execute("SELECT idx, text, n_tokens FROM samples WHERE key = ? AND idx < ? ORDER BY idx", (key, n)).fetchall()
        out = []
        for idx, text, tokens in rows:
            if idx != len(out):
                break
            out.append((text, tokens))
        self.hits += len(out)
        return out

    def put(self, key: str, samples: list[tuple[str, int]], first: int = 0) -> None:
        """Store samples ``first, first + 1, …`` of a question (with ``fresh``: replacing every
        row the question had)."""
        with self._lock:
            if self.fresh:
                self._db.execute("DELETE FROM samples WHERE key = ?", (key,))
            self._db.executemany(
                "INSERT OR REPLACE INTO samples (key, idx, text, n_tokens) VALUES (?, ?, ?, ?)",
                [(key, first + i, text, tokens) for i, (text, tokens) in enumerate(samples)],
            )
            self._db.commit()
        self.generated += len(samples)

    def log_usage(self) -> None:
        with self._lock:
            self._db.execute("INSERT INTO usage VALUES (?, ?, ?, ?)", (time.time(), os.getpid(), self.hits, self.generated))
            self._db.commit()

    def count(self) -> int:
        with self._lock:
            return self._db.execute("SELECT COUNT(*) FROM samples").fetchone()[0]

    def close(self) -> None:
        with self._lock:
            self._db.close()
