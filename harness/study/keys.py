"""Content keys of study stages: what a stage reads, hashed, names its output folder.

A stage's key hashes its kind, its declared settings (the training config with its includes and
overrides, or the evaluation settings and task list), its parent's key (for a model: the
checkpoint fingerprint) and the fingerprint of every data file it reads. Same inputs, same
folder: a finished stage is reused; change one input and that stage and everything downstream
get new folders. The training config is keyed on what the user declared, not on TRL's defaults
(an upgrade of TRL does not silently rerun a week of RL; pin versions for exact reruns).

Data files are hashed by content (large files by 16 windows, as checkpoints are); in folders of
images (VQA copies) the tables are hashed by content and the images by name and size.
"""

from __future__ import annotations

import hashlib
import json
from functools import cache
from pathlib import Path

from ..errors import MedbridgeError
from ..fingerprint import _file_digest, checkpoint_fingerprint

KEY_LENGTH = 12
_TABLE_SUFFIXES = {".csv", ".json", ".jsonl", ".parquet", ".pkl", ".arrow", ".tsv", ".txt", ".npz"}


def digest(payload) -> str:
    blob = json.dumps(payload, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


def stage_key(payload: dict) -> str:
    return digest(payload)[:KEY_LENGTH]


@cache
def _file_fp(path: str, size: int, mtime_ns: int) -> str:
    h = hashlib.sha256()
    _file_digest(Path(path), h)  # the checkpoint fingerprint's rule: whole file, or 16 windows when large
    return "sha256:" + h.hexdigest()


def file_fingerprint(path: str | Path) -> str:
    path = Path(path).resolve()
    st = path.stat()
    return _file_fp(str(path), st.st_size, st.st_mtime_ns)


def folder_fingerprint(path: str | Path) -> str:
    """Tables by content, everything else (images) by relative name and size."""
    root = Path(path).resolve()
    return _folder_fp(str(root), root.stat().st_mtime_ns)


@cache
def _folder_fp(path: str, mtime_ns: int) -> str:  # a plan asks once per folder, however many stages read it
    root = Path(path)
    if root.is_file():
        return file_fingerprint(root)
    h = hashlib.sha256()
    for p in sorted(q for q in root.rglob("*") if q.is_file() and not q.name.startswith(".") and "__pycache__" not in q.parts):
        rel = p.relative_to(root).as_posix()
        h.update(f"{rel}\t{file_fingerprint(p) if p.suffix.lower() in _TABLE_SUFFIXES else p.stat().st_size}\n".encode())
    return "sha256:" + h.hexdigest()


def clear_caches() -> None:
    _file_fp.cache_clear()
    _folder_fp.cache_clear()


def model_fingerprint(ref: str) -> str:
    """A local checkpoint's content fingerprint, or ``hub:<id>@<cached revision>``."""
    return checkpoint_fingerprint(ref)


def _missing(exc: MedbridgeError) -> str:
    return f"missing: {exc.what}"


def medmnist_fingerprint(name: str, root: Path | None, size: int | None) -> str:
    from ..sources import medmnist

    try:
        return file_fingerprint(medmnist.check_available(name, root=root, size=size))
    except MedbridgeError as exc:
        return _missing(exc)


def vqa_fingerprint(name: str) -> str:
    from ..sources import vqa

    try:
        location = vqa.locate(name)
    except MedbridgeError as exc:
        return _missing(exc)
    if location.path is None:
        return f"hub:{vqa.HUB_IDS.get(name, name)}"
    return folder_fingerprint(location.path)


def jsonl_fingerprint(path: Path) -> str:
    """An MCQ-doc JSONL: the file by content, the images beside it by name and size."""
    if not path.is_file():
        return f"missing: {path} not found"
    images = path.parent / "images"
    return digest([file_fingerprint(path), folder_fingerprint(images) if images.is_dir() else None])


def source_fingerprint(source: str, name: str, root: Path | None = None, size: int | None = None) -> str:
    if source == "medmnist":
        return medmnist_fingerprint(name, root, size)
    if source == "vqa":
        return vqa_fingerprint(name)
    if source == "jsonl":
        return jsonl_fingerprint(Path(name).expanduser())
    return f"unknown source {source!r}"


def data_is_missing(fingerprints: dict[str, str]) -> list[str]:
    """One line per missing thing, naming what needs it: ``file x.npz not found (task_a, task_b)``."""
    needs: dict[str, list[str]] = {}
    for name, fp in fingerprints.items():
        if fp.startswith(("missing", "unknown")):
            needs.setdefault(fp.removeprefix("missing: "), []).append(name)
    return [f"{what} (needed by {', '.join(names)})" for what, names in needs.items()]
