"""PMC-VQA: the release CSV (``test_2.csv`` v2, or ``test.csv``: Figure_path, Question,
Answer, Choice A..D, Answer_label) with its figure folder, or the Hugging Face test set the
paper's numbers come from (``AdaptLLM/biomed-VQA-benchmark``, config ``PMC-VQA``: image,
input, label, A..D). Four options."""

from __future__ import annotations

import csv
import re
from pathlib import Path

from ...errors import CorruptDataError, DataNotFoundError
from .common import VQAItem, letter_of
from .locations import hf_table, hub_dataset, undecoded

HUB_ID, HUB_CONFIG = "AdaptLLM/biomed-VQA-benchmark", "PMC-VQA"
_CHOICE_PREFIX = re.compile(r"^\s*[A-D]\s*[:.)]\s*")
_FIGURE_DIRS = ("images_2", "images", "figures", ".")


def _choice(text: str) -> str:
    return _CHOICE_PREFIX.sub("", str(text or "")).strip()


def read_release(path: Path) -> list[VQAItem]:
    csv_path = path if path.is_file() else next((path / n for n in ("test_2.csv", "test.csv") if (path / n).is_file()), None)
    if csv_path is None:
        raise DataNotFoundError("no PMC-VQA test_2.csv or test.csv", where=str(path), fix="point MEDBRIDGE_DATA_PMC_VQA at the folder with the CSV and its images folder")
    with csv_path.open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    need = {"Figure_path", "Question", "Choice A", "Choice B", "Choice C", "Choice D"}
    if rows and not need <= set(rows[0]):
        raise CorruptDataError(f"{csv_path.name} lacks columns {sorted(need - set(rows[0]))}", where=str(csv_path))
    base = csv_path.parent
    figures = next((base / d for d in _FIGURE_DIRS if (base / d).is_dir() and d != "."), base)
    items = []
    for i, r in enumerate(rows):
        options = [_choice(r[f"Choice {c}"]) for c in "ABCD"]
        label = (r.get("Answer_label") or "").strip().upper()
        letter = label if label in ("A", "B", "C", "D") else letter_of(r.get("Answer", ""), options)
        items.append(
            VQAItem(
                id=f"pmc_vqa/test/{i:05d}",
                question=str(r["Question"]).strip(),
                answer=r.get("Answer") or None,
                answer_letter=letter,
                options=options,
                images=[figures / r["Figure_path"]],
                modality="unknown",
                question_type="multiple-choice",
                meta={"figure": r["Figure_path"]},
                where=f"{csv_path} row {i + 2}",
            )
        )
        if letter is None:
            raise CorruptDataError(f"row {i + 2} has no usable answer (Answer_label {label!r})", where=str(csv_path), fix="the CSV is damaged or not the PMC-VQA test CSV")
    return items


def _from_table(tables, origin: str) -> list[VQAItem]:
    items = []
    for _, table in tables:
        for i, r in enumerate(undecoded(table, "image")):
            options = [_choice(r[c]) for c in "ABCD"]
            letter = letter_of(str(r.get("label") or ""), options)
            if letter is None:
                raise CorruptDataError(f"row {i} has no usable answer (label {r.get('label')!r})", where=origin)
            question = str(r.get("input") or r.get("question") or "").strip()
            items.append(VQAItem(id=f"pmc_vqa/test/{i:05d}", question=question, answer=options["ABCD".index(letter)], answer_letter=letter, options=options, images=[r["image"]], modality="unknown", question_type="multiple-choice", where=f"{origin} row {i}"))
    return items


def read(location) -> list[VQAItem]:
    if location.kind == "hub":
        return _from_table([("test", hub_dataset(HUB_ID, "test", HUB_CONFIG))], f"{HUB_ID}/{HUB_CONFIG}")
    tables = hf_table(location.path, ("test",), config=HUB_CONFIG)
    if tables is not None:
        return _from_table(tables, str(location.path))
    return read_release(location.path)
