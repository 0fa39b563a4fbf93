"""PMC-VQA, train and test: the release CSVs (``train_2.csv`` / ``test_2.csv`` v2, or
``train.csv`` / ``test.csv``: Figure_path, Question, Answer, Choice A..D, Answer_label) with
their figure folder, or the Hugging Face test set the paper's numbers come from
(``AdaptLLM/biomed-VQA-benchmark``, config ``PMC-VQA``: image, input, label, A..D; test only).
Four options."""

from __future__ import annotations

import csv
import re
from pathlib import Path

from ...answers import gold_letter, index_of_letter, option_letters
from ...errors import CorruptDataError, DataNotFoundError
from .common import VQAItem
from .locations import check_file_split, hf_table, hub_dataset, undecoded

HUB_ID, HUB_CONFIG = "AdaptLLM/biomed-VQA-benchmark", "PMC-VQA"
_CHOICE_PREFIX = re.compile(r"^\s*[A-D]\s*[:.)]\s*")
_FIGURE_DIRS = ("images_2", "images", "figures", ".")


def _choice(text: str) -> str:
    return _CHOICE_PREFIX.sub("", str(text or "")).strip()


def read_release(path: Path, split: str = "test") -> list[VQAItem]:
    if path.is_file():
        check_file_split(path, split, "pmc_vqa")
        csv_path = path
    else:
        csv_path = next((path / n for n in (f"{split}_2.csv", f"{split}.csv") if (path / n).is_file()), None)
    if csv_path is None:
        raise DataNotFoundError(f"no PMC-VQA {split}_2.csv or {split}.csv", where=str(path), fix="point MEDBRIDGE_DATA_PMC_VQA at the folder with the CSVs and their images folder")
    with csv_path.open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    need = {"Figure_path", "Question", "Choice A", "Choice B", "Choice C", "Choice D"}
    if rows and not need <= set(rows[0]):
        raise CorruptDataError(f"{csv_path.name} lacks columns {sorted(need - set(rows[0]))}", where=str(csv_path))
    base = csv_path.parent
    figures = next((base / d for d in _FIGURE_DIRS if (base / d).is_dir() and d != "."), base)
    items = []
    for i, r in enumerate(rows):
        options = [_choice(r[f"Choice {c}"]) for c in option_letters(4)]
        label = (r.get("Answer_label") or "").strip().upper()
        letter = label if len(label) == 1 and label in option_letters(len(options)) else gold_letter(r.get("Answer", ""), options)
        if letter is None:
            raise CorruptDataError(f"row {i + 2} has no usable answer (Answer_label {label!r})", where=str(csv_path), fix="the CSV is damaged or not a PMC-VQA release CSV")
        items.append(
            VQAItem(
                id=f"pmc_vqa/{split}/{i:05d}",
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
    return items


def _from_table(tables, origin: str, split: str) -> list[VQAItem]:
    items = []
    for _, table in tables:
        for i, r in enumerate(undecoded(table, "image")):
            options = [_choice(r[c]) for c in option_letters(4)]
            letter = gold_letter(str(r.get("label") or ""), options)
            if letter is None:
                raise CorruptDataError(f"row {i} has no usable answer (label {r.get('label')!r})", where=origin)
            question = str(r.get("input") or r.get("question") or "").strip()
            items.append(VQAItem(id=f"pmc_vqa/{split}/{i:05d}", question=question, answer=options[index_of_letter(letter)], answer_letter=letter, options=options, images=[r["image"]], modality="unknown", question_type="multiple-choice", where=f"{origin} row {i}"))
    return items


def read(location, split: str = "test") -> list[VQAItem]:
    if location.kind == "hub":
        if split != "test":
            raise DataNotFoundError(f"the hub copy the paper's numbers come from ({HUB_ID}, {HUB_CONFIG}) holds only PMC-VQA's test split, not {split}",
                                    fix="download the PMC-VQA release (xmcmic/PMC-VQA: train_2.csv and images_2.zip) and point MEDBRIDGE_DATA_PMC_VQA at it")
        return _from_table([("test", hub_dataset(HUB_ID, "test", HUB_CONFIG))], f"{HUB_ID}/{HUB_CONFIG}", split)
    tables = hf_table(location.path, (split,), config=HUB_CONFIG, benchmark="pmc_vqa")
    if tables is not None:
        return _from_table(tables, str(location.path), split)
    return read_release(location.path, split)
