"""One process at a time per folder: an OS lock (``flock``) on a file in it.

The kernel drops the lock when its process ends, however it ends (``kill -9`` included), so a
stale lock file never blocks the next run. ``flock`` locks belong to an open file, so two
holders conflict even inside one process (tests rely on that). The holder writes its pid into
the file, and a refused caller names it.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from .errors import ConfigError


class FolderLock:
    """``lock = FolderLock(folder / ".lock", what=..., fix=...); lock.acquire(); ...; lock.release()``.

    ``what`` is the refusal's message (the holder's pid is appended), ``fix`` its hint."""

    def __init__(self, path: str | os.PathLike, what: str, fix: str):
        self.path, self.what, self.fix = Path(path), what, fix
        self._file = None

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        f = self.path.open("a+")
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            f.seek(0)
            holder = f.read().strip() or "another process"
            f.close()
            raise ConfigError(f"{self.what} ({holder})", where=str(self.path.parent), fix=self.fix) from None
        f.truncate(0)
        f.write(f"pid {os.getpid()}\n")
        f.flush()
        self._file = f

    def release(self) -> None:
        if self._file is not None:
            fcntl.flock(self._file, fcntl.LOCK_UN)
            self._file.close()
            self._file = None

    def __enter__(self) -> FolderLock:
        self.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self.release()
