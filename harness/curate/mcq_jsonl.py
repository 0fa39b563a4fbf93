"""Write MCQ docs as the JSONL training reads (``data.source: jsonl``;
``medbridge.training.data.read_jsonl_docs``): one object per line with ``id``, ``question``,
``options``, ``answer`` (letter), ``images`` (paths relative to the file), ``modality``,
``source`` and ``meta``; images under ``images/`` beside the file.

Images that are files on disk (a VQA copy's figures) are copied byte for byte; decoded or
in-memory images (MedMNIST arrays, parquet bytes) are written as PNG. The file is written under a
temporary name and renamed at the end, so a killed run never leaves a half file.
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
from pathlib import Path

from ..atomic_write import atomic_write

IMAGES = "images"


def safe_name(doc_id: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", doc_id).strip("._") or "doc"


def _write_image(ref, target_stem: Path) -> Path:
    """One image as a file: a path is copied (its extension kept), anything else saved as PNG."""
    from PIL import Image

    if isinstance(ref, dict):
        ref = ref.get("path") if ref.get("path") and not ref.get("bytes") else ref.get("bytes")
    if isinstance(ref, (str, os.PathLike)) and Path(ref).is_file():
        target = target_stem.with_suffix(Path(ref).suffix.lower() or ".png")
        shutil.copyfile(ref, target)
        return target
    image = ref if isinstance(ref, Image.Image) else Image.open(io.BytesIO(ref))
    target = target_stem.with_suffix(".png")
    image.convert("RGB").save(target, "PNG")
    return target


def doc_row(doc_id: str, question: str, options: list[str], answer: str, images: list, folder: Path, *,
            modality: str = "unknown", source: str = "", meta: dict | None = None) -> dict:
    """The JSONL row of one question; its images are written under ``folder/images``."""
    (folder / IMAGES).mkdir(parents=True, exist_ok=True)
    paths = []
    for i, ref in enumerate(images):
        written = _write_image(ref, folder / IMAGES / f"{safe_name(doc_id)}-{i}")
        paths.append(written.relative_to(folder).as_posix())
    return {"id": doc_id, "question": question, "options": list(options), "answer": answer, "images": paths,
            "modality": modality, "source": source, "meta": json.loads(json.dumps(meta or {}, default=str))}


def write_rows(rows: list[dict], path: Path) -> Path:
    with atomic_write(path) as f:  # whole or not at all, mode 0644, no stray temporary file
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False, sort_keys=True) + "\n")
    return path


def write_docs(docs, path: Path, meta: dict | None = None) -> Path:
    """MCQDocs (PIL images) as MCQ-doc JSONL at ``path``; ``meta[id]`` is merged into each doc's meta."""
    folder = path.parent
    rows = [doc_row(d.id, d.question, d.options, d.answer, d.images, folder, modality=d.modality, source=d.source,
                    meta={**(d.meta or {}), **((meta or {}).get(d.id) or {})}) for d in docs]
    return write_rows(rows, path)
