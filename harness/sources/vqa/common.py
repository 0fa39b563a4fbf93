"""Shared pieces of the six VQA sources: raw items, MCQ conversion, protocols, image loading.

A source reads its layout into :class:`VQAItem` rows (images still as references), then
:func:`to_docs` turns the multiple-choice ones into :class:`MCQDoc`s, loading images only for
the docs actually used. Each conversion also fills a :class:`ConversionReport`, so open
questions and other left-out rows are counted and reported, never silently dropped.
"""

from __future__ import annotations

import io
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ...answers import letter_of_index, option_letters
from ...errors import CorruptDataError, DataNotFoundError
from ..mcq import MCQDoc

PAPER_SUBSET = 200  # the paper's Table 3 fractions (arXiv 2603.01301) fit 200-item subsets
SUBSET_SEED = 0
YES_NO = ("yes", "no")


@dataclass
class VQAItem:
    """One question as its source stores it. ``options`` is None for a free-form question whose
    answer is only text (yes/no conversion decides whether it becomes an MCQ)."""

    id: str
    question: str
    answer: str | None
    images: list  # each: a path, raw bytes, a PIL image, or a {"bytes", "path"} dict
    modality: str
    question_type: str
    options: list[str] | None = None
    answer_letter: str | None = None
    closed: bool | None = None  # the source's own open/closed label, where it has one
    meta: dict[str, Any] = field(default_factory=dict)
    where: str = ""  # file (and row) it came from, for error messages
    split: str = "test"  # the source split it belongs to


@dataclass
class ConversionReport:
    benchmark: str
    rows: int = 0
    mcq: int = 0
    left_out: dict[str, int] = field(default_factory=dict)
    protocol: str = ""
    used: int = 0
    source_split: str = ""  # the split the items come from (the paper protocol subsets test)

    def leave_out(self, reason: str) -> None:
        self.left_out[reason] = self.left_out.get(reason, 0) + 1

    def as_dict(self) -> dict:
        return {"benchmark": self.benchmark, "source_split": self.source_split, "rows": self.rows, "mcq": self.mcq,
                "left_out": dict(sorted(self.left_out.items())), "protocol": self.protocol, "used": self.used}


def yes_no_options(item: VQAItem) -> tuple[list[str], str, str] | None:
    """Options, answer letter and order for a closed yes/no question, or None.

    The Yes/No order is drawn per question from a generator seeded by the question id, so a
    model that always says "A" cannot score by position; the order is recorded in meta."""
    answer = (item.answer or "").strip().lower()
    if answer not in YES_NO:
        return None
    order = ["Yes", "No"]
    if random.Random(f"{SUBSET_SEED}:{item.id}").random() < 0.5:
        order.reverse()
    return order, letter_of_index(order.index(answer.capitalize())), "/".join(order)


def to_mcq(items: list[VQAItem], report: ConversionReport) -> list[VQAItem]:
    """Keep the multiple-choice items: native options, or closed yes/no questions converted."""
    kept = []
    for item in items:
        report.rows += 1
        if isinstance(item.answer, str) and not item.answer.strip():
            item.answer = None  # an empty cell is a missing answer, in every layout
        if item.answer is None and item.answer_letter is None:
            raise CorruptDataError(f"row {item.id} has no answer", where=item.where, fix="the local copy is incomplete or not the test split; re-download it")
        if item.options:
            empty = [letter for letter, text in zip(option_letters(len(item.options)), item.options) if not str(text or "").strip()]
            if empty:  # a blank option can be neither read by the grader nor told apart by a model
                raise CorruptDataError(f"row {item.id} has empty option texts ({', '.join(empty)})", where=item.where,
                                       fix="the local copy is damaged or was exported without its options; re-download it")
            if item.answer_letter is None:
                raise CorruptDataError(f"row {item.id}: answer {item.answer!r} is none of its {len(item.options)} options", where=item.where, fix="the local copy is damaged or not this benchmark's test set")
            kept.append(item)
            continue
        if item.closed is False:
            report.leave_out("open question")
            continue
        converted = yes_no_options(item)
        if converted is None:
            report.leave_out("closed, not yes/no" if item.closed else "free-form answer, not yes/no")
            continue
        item.options, item.answer_letter, order = converted
        item.meta["option_order"] = order
        item.meta["answer_kind"] = "yes/no"
        kept.append(item)
    report.mcq = len(kept)
    return kept


def apply_protocol(items: list[VQAItem], split: str, report: ConversionReport, keep_all: bool = False) -> list[VQAItem]:
    """``paper``: a seeded subset of min(200, n) items of the test split in source order
    (``keep_all``: every item, as for MMMU-Med's 170); any other split: all its MCQ items."""
    if split == "paper":
        report.protocol = "paper: all items" if keep_all else f"paper: seeded subset of min({PAPER_SUBSET}, n)"
        if keep_all or len(items) <= PAPER_SUBSET:
            chosen = items
        else:
            picked = sorted(random.Random(SUBSET_SEED).sample(range(len(items)), PAPER_SUBSET))
            chosen = [items[i] for i in picked]
    else:
        report.protocol = "full"
        chosen = items
    report.used = len(chosen)
    return chosen


def load_image(ref, where: str):
    from PIL import Image

    if isinstance(ref, Image.Image):
        return ref
    if isinstance(ref, dict):
        ref = ref.get("bytes") or ref.get("path")
    try:
        if isinstance(ref, (bytes, bytearray)):
            return Image.open(io.BytesIO(ref))
        path = Path(ref)
        if not path.is_file():
            raise DataNotFoundError(f"image file missing: {path}", where=f"needed by {where}", fix="the local copy is incomplete: re-extract or re-download its images")
        image = Image.open(path)
        image.load()
        return image
    except DataNotFoundError:
        raise
    except Exception as exc:
        raise CorruptDataError(f"cannot read image ({exc})", where=str(where), fix="re-download the image files") from exc


def to_docs(items: list[VQAItem], benchmark: str) -> list[MCQDoc]:
    docs = []
    for item in items:
        images = [load_image(ref, item.where or item.id) for ref in item.images]
        if not images:
            raise CorruptDataError(f"row {item.id} has no image", where=item.where, fix="check the image column / image folder of the local copy")
        meta = {**item.meta, "question_type": item.question_type, "split": item.split}
        docs.append(
            MCQDoc(
                id=item.id,
                images=images,
                question=item.question,
                options=list(item.options),
                answer=item.answer_letter,
                modality=item.modality,
                source=benchmark,
                meta=meta,
            )
        )
    return docs
