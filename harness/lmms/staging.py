"""An evaluation's output folder receives a run's files all at once, or not at all.

``medbridge eval`` writes lmms-eval's results and sample logs, the records and ``groups.json``
into ``<output>/.medbridge-staging/`` first. Only when every file is there does it write a
manifest (``COMMITTED``, atomically) and move the files into place; a run killed before the
manifest leaves nothing in ``<output>`` (its staging folder is removed by the next run), one
killed while moving is finished by the next run (the manifest says what was left to move). So a
kill right after lmms-eval wrote its ``…_results.json`` can never leave an orphan beside which
a rerun writes a second one.

A lock file (``<output>/.medbridge-staging.lock``) keeps two runs from sharing one output
folder, so clearing a stale staging folder never touches a live run's files. Opening the stage
is also the check that the output folder can be written, done before anything heavy starts.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from ..atomic_write import fsync_dir, write_json_atomic
from ..errors import ConfigError
from ..folder_lock import FolderLock
from ..outputs import check_writable_folder

STAGE = ".medbridge-staging"
MANIFEST = "COMMITTED"
LOCK = ".medbridge-staging.lock"


def _fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class StagedOutput:
    """``with StagedOutput(out) as stage: write under stage.root; stage.commit()``."""

    def __init__(self, output: str | os.PathLike):
        self.output = Path(output)
        self.root = self.output / STAGE
        self._lock = None

    # ---- opening: check, lock, recover -------------------------------------------------
    def __enter__(self) -> StagedOutput:
        self.open()
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        try:
            if exc_type is not None and self.root.is_dir() and not (self.root / MANIFEST).exists():
                shutil.rmtree(self.root, ignore_errors=True)  # a failed run leaves nothing (a kill: the next run clears it)
        finally:
            self.close()

    def open(self) -> None:
        check_writable_folder(self.output)  # a real write: permission bits do not tell for root or read-only mounts
        try:
            self.output.mkdir(parents=True, exist_ok=True)
        except OSError as exc:  # the check passed, so something changed since: say what
            raise ConfigError(
                f"output folder cannot be created ({exc.strerror or exc})", where=str(self.output), fix="pass another --output"
            ) from exc
        self._lock = FolderLock(self.output / LOCK, what="another medbridge run is writing to this output folder",
                                fix="wait for it to finish or pass another --output")
        self._lock.acquire()
        try:
            self.recover()
            self.root.mkdir()
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        if self._lock is not None:
            self._lock.release()
            self._lock = None

    def recover(self) -> str | None:
        """Finish a committed run's move, or drop an uncommitted stage; say which (or None)."""
        if not self.root.exists():
            return None
        manifest = self.root / MANIFEST
        if manifest.is_file():
            try:
                files = json.loads(manifest.read_text())["files"]
            except (OSError, ValueError, KeyError):
                files = None  # the manifest is written atomically; unreadable means not ours
            if files is not None:
                self._move(files)
                return "finished"
        shutil.rmtree(self.root)
        fsync_dir(self.output)
        return "dropped"

    # ---- committing ----------------------------------------------------------------------
    def files(self) -> list[str]:
        return sorted(str(p.relative_to(self.root)) for p in self.root.rglob("*") if p.is_file() and p.name != MANIFEST)

    def commit(self) -> list[Path]:
        """Make every staged file durable, record them, move them into place; return them."""
        files = self.files()
        for rel in files:
            _fsync_file(self.root / rel)
        for folder in {(self.root / rel).parent for rel in files}:
            fsync_dir(folder)
        write_json_atomic(self.root / MANIFEST, {"files": files})
        return self._move(files)

    def _move(self, files: list[str]) -> list[Path]:
        moved = []
        for rel in files:
            source, target = self.root / rel, self.output / rel
            if source.is_file():  # absent: moved before a crash
                target.parent.mkdir(parents=True, exist_ok=True)
                os.replace(source, target)
                fsync_dir(target.parent)
            moved.append(target)
        shutil.rmtree(self.root)
        fsync_dir(self.output)
        return moved
