"""VQA-RAD, train and test splits: the original release json (MEVF layout ``trainset.json`` /
``testset.json``, one split each; or the OSF ``VQA_RAD Dataset Public.json`` holding both,
``phrase_type`` test_* marking the test rows) plus an image folder, or the Hugging Face layout
(``flaviagiammarino/vqa-rad``: image, question, answer; train / test)."""

from __future__ import annotations

import json
from pathlib import Path

from ...errors import CorruptDataError, DataNotFoundError
from .common import VQAItem
from .locations import check_file_split, file_split, hf_table, hub_dataset, undecoded

HUB_ID = "flaviagiammarino/vqa-rad"
_IMAGE_DIRS = ("images", "VQA_RAD Image Folder", "imgs", ".")


# The release json holding one split (MEVF layout) or all of them (OSF: phrase_type test_* is test).
_MEVF = {"train": "trainset.json", "test": "testset.json"}
_OSF = "VQA_RAD Dataset Public.json"


def _pick_json(folder: Path, split: str) -> Path:
    for path in (folder / _MEVF[split], folder / _OSF):
        if path.is_file():
            return path
    candidates = sorted(p for p in folder.glob("*.json") if file_split(p.name) == split)
    if len(candidates) == 1:
        return candidates[0]
    if not candidates:
        raise DataNotFoundError(f"no VQA-RAD {split} json ({_MEVF[split]} or {_OSF}) found", where=str(folder),
                                fix=f"point MEDBRIDGE_DATA_VQA_RAD at the folder with {_MEVF[split]} and images/, or at the json file itself")
    names = ", ".join(p.name for p in candidates)
    raise DataNotFoundError(f"several VQA-RAD {split} jsons ({names})", where=str(folder), fix="point MEDBRIDGE_DATA_VQA_RAD at the json file you mean")


def _image_dir(base: Path) -> Path:
    for name in _IMAGE_DIRS:
        d = base / name
        if d.is_dir() and any(d.glob("*.jpg")):
            return d
    return base / "images"


def _osf_split(row: dict) -> str:
    return "test" if str(row.get("phrase_type", "")).startswith("test") else "train"


def read_release(path: Path, split: str = "test") -> list[VQAItem]:
    json_path = path if path.is_file() else _pick_json(path, split)
    try:
        rows = json.loads(json_path.read_text())
    except (ValueError, UnicodeDecodeError) as exc:
        raise CorruptDataError(f"cannot parse {json_path.name} as json ({exc})", where=str(json_path)) from exc
    if not isinstance(rows, list) or (rows and "question" not in rows[0]):
        raise CorruptDataError(f"{json_path.name} is not a list of VQA-RAD rows", where=str(json_path), fix="expected the MEVF/OSF layout: qid, image_name, question, answer, answer_type")
    if any(str(r.get("phrase_type", "")).startswith("test") for r in rows):  # the OSF file holds all splits
        rows = [r for r in rows if _osf_split(r) == split]
    else:  # an MEVF file holds one split: its name says which
        check_file_split(json_path, split, "vqa_rad")
    images = _image_dir(json_path.parent)
    items = []
    for i, r in enumerate(rows):
        where = f"{json_path} row {i}"
        items.append(
            VQAItem(
                id=f"vqa_rad/{split}/{r.get('qid', i)}",
                question=str(r["question"]).strip(),
                answer=None if r.get("answer") is None else str(r["answer"]),
                images=[images / r["image_name"]],
                modality="radiology",
                question_type=str(r.get("question_type") or "unknown"),
                closed=str(r.get("answer_type", "")).upper() == "CLOSED" if r.get("answer_type") else None,
                meta={"organ": r.get("image_organ"), "image": r.get("image_name")},
                where=where,
            )
        )
    return items


def _from_table(tables, origin: str) -> list[VQAItem]:
    items = []
    for split, table in tables:
        for i, r in enumerate(undecoded(table, "image")):
            items.append(
                VQAItem(
                    id=f"vqa_rad/{split}/{i:04d}",
                    question=str(r["question"]).strip(),
                    answer=r.get("answer"),
                    images=[r["image"]],
                    modality="radiology",
                    question_type="unknown",
                    where=f"{origin} row {i}",
                )
            )
    return items


def read(location, split: str = "test") -> list[VQAItem]:
    if location.kind == "hub":
        return _from_table([(split, hub_dataset(HUB_ID, split))], HUB_ID)
    tables = hf_table(location.path, (split,), benchmark="vqa_rad")
    if tables is not None:
        return _from_table(tables, str(location.path))
    return read_release(location.path, split)
