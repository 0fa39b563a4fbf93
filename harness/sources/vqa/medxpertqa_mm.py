"""MedXpertQA MM (``TsinghuaC3I/MedXpertQA``, config ``MM``; dev: 5, test: 2,000 questions, options
A–E, one or more images). Rows: id, question (ending in "Answer Choices: (A) …", which is
dropped because the prompt lists the options), options {A..E}, label, images (file names),
medical_task, body_system, question_type. Local copies: a folder with the MM ``test.jsonl`` (``dev.jsonl``)
and an ``images/`` folder or ``images.zip``, or parquet / ``save_to_disk`` files."""

from __future__ import annotations

import json
import re
from pathlib import Path

from ...answers import LETTERS, gold_letter
from ...errors import CorruptDataError, DataNotFoundError
from .common import VQAItem
from .locations import check_file_split, file_split, hf_table, hub_dataset, hub_snapshot, undecoded, unpacked

HUB_ID, HUB_CONFIG = "TsinghuaC3I/MedXpertQA", "MM"
_CHOICES_TAIL = re.compile(r"\s*Answer Choices:.*$", re.DOTALL)


def _images_dir(base: Path) -> Path:
    for candidate in (base / "images", base.parent / "images"):
        if candidate.is_dir():
            return candidate
    for candidate in (base / "images.zip", base.parent / "images.zip"):
        if candidate.is_file():
            root = unpacked(candidate)
            return root / "images" if (root / "images").is_dir() else root
    return base / "images"


def _item(r: dict, i: int, images: list, where: str, split: str = "test") -> VQAItem:
    raw = r.get("options") or {}
    if isinstance(raw, str):
        raw = json.loads(raw)
    letters = sorted(k for k, v in raw.items() if v is not None)
    options = [str(raw[k]) for k in letters]
    if letters != list(LETTERS[: len(letters)]):
        raise CorruptDataError(f"row {r.get('id', i)} has option keys {letters}", where=where, fix="expected consecutive letters A, B, C, …")
    label = str(r.get("label") or "").strip()
    return VQAItem(
        id=f"medxpertqa_mm/{split}/{r.get('id', i)}",
        question=_CHOICES_TAIL.sub("", str(r["question"])).strip(),
        answer=label or None,
        answer_letter=gold_letter(label, options) if label else None,
        options=options,
        images=images,
        modality="unknown",
        question_type=str(r.get("question_type") or "unknown"),
        meta={"medical_task": r.get("medical_task"), "body_system": r.get("body_system")},
        where=where,
    )


def _pick_jsonl(path: Path, split: str) -> Path | None:
    if path.is_file():
        check_file_split(path, split, "medxpertqa_mm")
        return path
    mm = sorted(p for p in path.rglob("*.jsonl") if "mm" in p.name.lower() or "mm" in p.parent.name.lower())
    return next((p for p in mm if file_split(p.name) == split), None)


def read_jsonl(path: Path, split: str = "test") -> list[VQAItem]:
    jsonl = _pick_jsonl(path, split)
    if jsonl is None:
        raise DataNotFoundError(f"no MedXpertQA MM {split} .jsonl found", where=str(path),
                                fix=f"point MEDBRIDGE_DATA_MEDXPERTQA_MM at the folder with MM/{split}.jsonl and images/ (or images.zip)")
    images = _images_dir(jsonl.parent)
    items = []
    with jsonl.open(encoding="utf-8") as f:
        for i, line in enumerate(f):
            if not line.strip():
                continue
            try:
                r = json.loads(line)
            except ValueError as exc:
                raise CorruptDataError(f"line {i + 1} is not json ({exc})", where=str(jsonl)) from exc
            items.append(_item(r, i, [images / name for name in r.get("images") or []], f"{jsonl} line {i + 1}", split))
    return items


def read(location, split: str = "test") -> list[VQAItem]:
    if location.kind == "hub":
        table = hub_dataset(HUB_ID, split, HUB_CONFIG)
        images = unpacked(hub_snapshot(HUB_ID, ["images.zip"]) / "images.zip")
        images = images / "images" if (images / "images").is_dir() else images
        return [_item(r, i, [images / n for n in r["images"]], f"{HUB_ID} row {i}", split) for i, r in enumerate(table)]
    tables = hf_table(location.path, (split,), config=HUB_CONFIG, benchmark="medxpertqa_mm")
    if tables is not None:
        base = location.path if location.path.is_dir() else location.path.parent
        images = _images_dir(base)
        items = []
        for _, table in tables:
            for i, r in enumerate(undecoded(table, "images")):
                refs = [img if isinstance(img, dict) else images / img for img in r.get("images") or []]
                items.append(_item(r, i, refs, f"{location.path} row {i}", split))
        return items
    return read_jsonl(location.path, split)
