"""SLAKE 1.0: ``train.json``, ``validate.json`` (the validation split), ``test.json`` and the
``imgs/`` folder (or ``imgs.zip``), as released and as mirrored on the hub (``BoKelvin/SLAKE``).
English rows only (``q_lang == "en"``): the yes/no conversion is defined for English answers."""

from __future__ import annotations

import json
from pathlib import Path

from ...errors import CorruptDataError, DataNotFoundError
from .common import VQAItem
from .locations import check_file_split, hub_snapshot, unpacked

HUB_ID = "BoKelvin/SLAKE"


def _images_root(folder: Path) -> Path:
    if (folder / "imgs").is_dir():
        return folder / "imgs"
    if (folder / "imgs.zip").is_file():
        root = unpacked(folder / "imgs.zip")
        return root / "imgs" if (root / "imgs").is_dir() else root
    return folder / "imgs"  # missing images are reported per row


# canonical split -> the release's file name
FILES = {"train": "train.json", "validation": "validate.json", "test": "test.json"}


def read_release(path: Path, split: str = "test") -> list[VQAItem]:
    """One split of the release: ``path`` is the SLAKE folder, or one of its json files (which
    must be the asked split's: validate.json is not the test set)."""
    if path.is_file():
        check_file_split(path, split, "slake")
        json_path = path
    else:
        json_path = path / FILES[split]
    if not json_path.is_file():
        raise DataNotFoundError(f"SLAKE {FILES[split]} ({split} split) not found", where=str(path),
                                fix="point MEDBRIDGE_DATA_SLAKE at the SLAKE folder holding train.json, validate.json, test.json and imgs/")
    try:
        rows = json.loads(json_path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise CorruptDataError(f"cannot parse {json_path.name} as json ({exc})", where=str(json_path)) from exc
    images = _images_root(json_path.parent)
    items = []
    for i, r in enumerate(rows):
        if r.get("q_lang", "en") != "en":
            continue
        items.append(
            VQAItem(
                id=f"slake/{split}/{r.get('qid', i)}",
                question=str(r["question"]).strip(),
                answer=None if r.get("answer") is None else str(r["answer"]),
                images=[images / r["img_name"]],
                modality=str(r.get("modality") or "unknown"),
                question_type=str(r.get("content_type") or "unknown"),
                closed=str(r.get("answer_type", "")).upper() == "CLOSED",
                meta={"location": r.get("location"), "image": r.get("img_name"), "base_type": r.get("base_type")},
                where=f"{json_path} row {i}",
            )
        )
    return items


def read(location, split: str = "test") -> list[VQAItem]:
    if location.kind == "hub":
        return read_release(hub_snapshot(HUB_ID, [FILES[split], "imgs.zip"]), split)
    return read_release(location.path, split)
