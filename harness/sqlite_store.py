"""Open the project's SQLite stores (the sample cache, the judge's verdicts) the same way.

WAL (readers never block the writer), ``synchronous=FULL`` (a committed row survives a kill
-9 or a power cut), the tables created if missing. Several processes may open one store at
the same instant (torchrun ranks, two runs sharing ``MEDBRIDGE_CACHE``): switching a new file
to WAL and creating its tables take locks for which SQLite does not always call its busy
handler, so ``timeout=`` alone still lets one of them fail with "database is locked" (25 of
40 two-process opens did here). The set-up is therefore retried until ``timeout``.
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path


def open_store(path: Path, *schema: str, timeout: float = 120.0) -> sqlite3.Connection:
    """A connection to ``path`` with WAL, full sync and the ``schema`` statements applied
    (``CREATE TABLE IF NOT EXISTS ...``), retried while another process holds the set-up lock."""
    deadline = time.monotonic() + timeout
    delay = 0.01
    while True:
        db = sqlite3.connect(str(path), timeout=timeout, check_same_thread=False)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=FULL")
            for statement in schema:
                db.execute(statement)
            db.commit()
            return db
        except sqlite3.OperationalError as exc:
            db.close()
            busy = "locked" in str(exc) or "busy" in str(exc)
            if not busy or time.monotonic() > deadline:
                raise
            time.sleep(delay)
            delay = min(delay * 2, 0.5)
