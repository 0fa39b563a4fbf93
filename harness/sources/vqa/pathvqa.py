"""PathVQA, train / validation / test: the original release (``pvqa/qas/<split>/<split>_qa.pkl``,
a pickled list of {image, question, answer}, with ``pvqa/images/<split>/<image>.jpg``; the
validation split's folder is ``val``) or the Hugging Face layout (``flaviagiammarino/path-vqa``:
image, question, answer; train / validation / test). Closed = yes/no answers."""

from __future__ import annotations

import pickle
from pathlib import Path

from ...errors import CorruptDataError, DataNotFoundError
from .common import VQAItem
from .locations import hf_table, hub_dataset, undecoded

HUB_ID = "flaviagiammarino/path-vqa"


# canonical split -> the release's folder / file stem and the hub's split name
_RELEASE = {"train": "train", "validation": "val", "test": "test"}
_HUB = {"train": "train", "validation": "validation", "test": "test"}


def _release_root(path: Path) -> Path | None:
    for root in (path, path / "pvqa"):
        if (root / "qas").is_dir():
            return root
    return None


def read_release(root: Path, split: str = "test") -> list[VQAItem]:
    name = _RELEASE[split]
    qa_path = root / "qas" / name / f"{name}_qa.pkl"
    if not qa_path.is_file():
        raise DataNotFoundError(f"PathVQA {qa_path.name} ({split} split) not found", where=str(qa_path.parent),
                                fix=f"expected the release layout pvqa/qas/{name}/{name}_qa.pkl with pvqa/images/{name}/")
    try:
        # The official release ships pickles; read only files you downloaded from it.
        with qa_path.open("rb") as f:
            rows = pickle.load(f)
    except Exception as exc:
        raise CorruptDataError(f"cannot unpickle {qa_path.name} ({exc})", where=str(qa_path)) from exc
    images = root / "images" / name
    items = []
    for i, r in enumerate(rows):
        items.append(
            VQAItem(
                id=f"pathvqa/{split}/{i:05d}",
                question=str(r["question"]).strip(),
                answer=None if r.get("answer") is None else str(r["answer"]),
                images=[images / f"{r['image']}.jpg"],
                modality="microscopy",
                question_type="yes/no",
                meta={"image": r.get("image")},
                where=f"{qa_path} row {i}",
            )
        )
    return items


def _from_table(tables, origin: str, split: str) -> list[VQAItem]:
    items = []
    for _, table in tables:
        for i, r in enumerate(undecoded(table, "image")):
            items.append(VQAItem(id=f"pathvqa/{split}/{i:05d}", question=str(r["question"]).strip(), answer=r.get("answer"), images=[r["image"]], modality="microscopy", question_type="yes/no", where=f"{origin} row {i}"))
    return items


def read(location, split: str = "test") -> list[VQAItem]:
    if location.kind == "hub":
        return _from_table([(split, hub_dataset(HUB_ID, _HUB[split]))], HUB_ID, split)
    root = _release_root(location.path) if location.path.is_dir() else None
    if root is not None:
        return read_release(root, split)
    tables = hf_table(location.path, (_HUB[split],), benchmark="pathvqa")
    if tables is None:
        raise DataNotFoundError("no PathVQA layout found (neither pvqa/qas/ nor parquet / save_to_disk files)", where=str(location.path))
    return _from_table(tables, str(location.path), split)
