"""MMMU-Med: the five Health & Medicine subjects of MMMU (``MMMU/MMMU``), dev + validation
(the test split has no answers), multiple-choice questions only: 170 items. Up to seven images
per question (``image_1`` … ``image_7``); ``<image n>`` placeholders in the text are rewritten
to "[image n]" and the images passed in placeholder order. Local copies: the hub's parquet
layout (``<Subject>/validation-*.parquet``) or ``save_to_disk`` folders, one per subject or a
folder holding them."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from ...answers import gold_letter
from ...errors import CorruptDataError, DataNotFoundError
from .common import VQAItem
from .locations import hf_table, hub_dataset, undecoded

HUB_ID = "MMMU/MMMU"
SUBJECTS = ("Basic_Medical_Science", "Clinical_Medicine", "Diagnostics_and_Laboratory_Medicine", "Pharmacy", "Public_Health")
SPLITS = ("dev", "validation")
_PLACEHOLDER = re.compile(r"<image (\d+)>")
_IMAGE_COLUMNS = tuple(f"image_{i}" for i in range(1, 8))


def _modality(img_type: str) -> str:
    text = (img_type or "").lower()
    if any(k in text for k in ("mri", "ct scan", "x-ray", "body scan", "ultrasound")):
        return "radiology"
    if "microscop" in text or "patholog" in text:
        return "microscopy"
    if "photograph" in text:
        return "visible_light"
    return "other"


def _row_to_item(r: dict, subject: str, split: str, where: str) -> VQAItem | None:
    if r.get("question_type") != "multiple-choice":
        return None
    try:
        options = [str(o) for o in ast.literal_eval(r["options"])] if isinstance(r["options"], str) else list(r["options"])
    except (ValueError, SyntaxError) as exc:
        raise CorruptDataError(f"options of {r.get('id')} are not a list ({exc})", where=where) from exc
    text = " ".join([r["question"], *options])
    order = sorted({int(n) for n in _PLACEHOLDER.findall(text)})
    images = [r[f"image_{n}"] for n in order if 1 <= n <= 7 and r.get(f"image_{n}") is not None]
    if not order:  # no placeholder: keep the images the row has, in column order
        images = [r[c] for c in _IMAGE_COLUMNS if r.get(c) is not None]
    letter = gold_letter(str(r.get("answer") or ""), options)
    return VQAItem(
        id=f"mmmu_med/{split}/{r['id']}",
        question=_PLACEHOLDER.sub(r"[image \1]", r["question"]).strip(),
        options=[_PLACEHOLDER.sub(r"[image \1]", o) for o in options],
        answer=r.get("answer"),
        answer_letter=letter,
        images=images,
        modality=_modality(str(r.get("img_type") or "")),
        question_type=subject,
        meta={"subject": subject, "subfield": r.get("subfield"), "img_type": r.get("img_type")},
        where=where,
    )


def _collect(tables_by_subject: dict[str, list], origin: str) -> list[VQAItem]:
    items = []
    for subject, tables in tables_by_subject.items():
        for split, table in tables:
            for i, r in enumerate(undecoded(table, *_IMAGE_COLUMNS)):
                item = _row_to_item(r, subject, split, f"{origin} {subject}/{split} row {i}")
                if item is None:  # an open question: counted as left out, not converted
                    item = VQAItem(id=f"mmmu_med/{split}/{r['id']}", question="", answer=r.get("answer"), images=[], modality="other", question_type=subject, closed=False, where=origin)
                items.append(item)
    return items


def read(location, split: str = "validation") -> list[VQAItem]:
    """One MMMU split (``dev`` or ``validation``) of the five subjects."""
    if location.kind == "hub":
        return _collect({s: [(split, hub_dataset(HUB_ID, split, s))] for s in SUBJECTS}, HUB_ID)
    path: Path = location.path
    found = {}
    for subject in SUBJECTS:
        tables = hf_table(path / subject, (split,), benchmark="mmmu_med") or hf_table(path, (split,), config=subject, strict=True, benchmark="mmmu_med")
        if tables:
            found[subject] = tables
    if not found:
        raise DataNotFoundError(f"no MMMU subject folder with a {split} split found", where=str(path), fix=f"expected the hub layout with folders {', '.join(SUBJECTS)} (parquet or save_to_disk)")
    return _collect(found, str(path))
