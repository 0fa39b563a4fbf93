"""Output folders are checked before any model is loaded, so a run never fails at its last
step (after all generation) because its results cannot be written."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from .errors import ConfigError


def check_writable_folder(path: str | os.PathLike, flag: str = "--output") -> Path:
    """Prove that ``path`` can be (created and) written to, leaving nothing behind: a real write
    into the folder, or into its nearest existing parent when it does not exist yet (permission
    bits alone do not tell, e.g. for root or on a read-only mount); raise ConfigError if not."""
    folder = Path(path).expanduser()
    existing = next((p for p in (folder, *folder.parents) if p.exists()), None)
    if existing is not None and not existing.is_dir():
        raise ConfigError(f"{flag} {folder} cannot be a folder: {existing} is a file", where=str(folder), fix=f"pass {flag} a folder path")
    try:
        fd, probe = tempfile.mkstemp(dir=existing or Path.cwd(), prefix=".medbridge-write-check.")
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise ConfigError(f"cannot write to the {flag} folder ({exc.strerror or exc})", where=str(folder), fix=f"pass {flag} a folder you can write to") from exc
    return folder
