"""The open-ended questions of VQA-RAD, SLAKE and PathVQA as :class:`OpenDoc` records.

They are exactly the rows the MCQ conversion (``vqa.common.to_mcq``) leaves out and counts:
open questions, and closed questions whose answer is not yes/no ("left or right?"). The same
readers and locations serve both (``MEDBRIDGE_DATA_<BENCHMARK>``), so a benchmark's MCQ task and
its ``_open`` task together cover every row once. Protocols and splits as for the MCQ tasks:
``paper`` is a seeded (seed 0) subset of min(200, n) of the test split, ``test`` the whole open
test set, ``train`` / ``validation`` those splits' open rows.
"""

from __future__ import annotations

from ..errors import DataNotFoundError
from .open import OpenDoc
from .vqa import check_name, locate
from .vqa.common import ConversionReport, apply_protocol, load_image, to_mcq

OPEN_BENCHMARKS = ("vqa_rad", "slake", "pathvqa")


def _check(benchmark: str) -> str:
    check_name(benchmark)
    if benchmark not in OPEN_BENCHMARKS:
        raise DataNotFoundError(f"{benchmark} has no open-ended questions in medbridge", fix=f"open tasks exist for {', '.join(OPEN_BENCHMARKS)}")
    return benchmark


def open_items(benchmark: str, split: str = "paper", location=None) -> tuple[list, dict]:
    """The open items of one benchmark under a protocol, and counts for records and messages."""
    from .vqa import read_items, source_splits

    location = location or locate(_check(benchmark))
    splits = source_splits(benchmark, split)  # paper / test: the test split; or train, validation ...
    items = [item for name in splits for item in read_items(benchmark, name, location)]
    mcq = {id(item) for item in to_mcq(items, ConversionReport(benchmark))}  # the rows the MCQ task uses
    chosen = [item for item in items if id(item) not in mcq]
    if not chosen:
        how = " (the MedVLThinker-Eval copy holds only multiple-choice questions: point the benchmark's own variable at its release)" if location.kind == "unified" else ""
        raise DataNotFoundError(f"{benchmark}: no open-ended question in the local copy ({len(items)} rows read){how}", where=location.describe())
    report = ConversionReport(benchmark)
    used = apply_protocol(chosen, split, report)
    counts = {
        "benchmark": benchmark,
        "rows": len(items),
        "open": sum(1 for i in chosen if i.closed is not True),
        "closed_not_yes_no": sum(1 for i in chosen if i.closed is True),
        "left_out": {"multiple choice (scored by the MCQ task)": len(mcq)},
        "protocol": report.protocol,
        "used": report.used,
        "source_split": "+".join(splits),
    }
    return used, counts


def to_open_docs(items: list, benchmark: str) -> list[OpenDoc]:
    docs = []
    for item in items:
        images = [load_image(ref, item.where or item.id) for ref in item.images]
        if not images:
            raise DataNotFoundError(f"row {item.id} has no image", where=item.where, fix="check the image column / image folder of the local copy")
        docs.append(
            OpenDoc(
                id=item.id,
                images=images,
                question=item.question,
                answer=str(item.answer).strip(),
                answer_type="closed" if item.closed is True else "open",
                modality=item.modality,
                source=benchmark,
                meta={**item.meta, "question_type": item.question_type, "split": item.split},
            )
        )
    return docs


def load_docs(benchmark: str, split: str = "paper") -> list[OpenDoc]:
    items, _ = open_items(benchmark, split)
    return to_open_docs(items, benchmark)
