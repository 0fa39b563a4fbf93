"""The unified MedVLThinker-Eval MCQ set (``UCSC-VLAA/MedVLThinker-Eval``, test: 8,220 items
over six benchmarks, a ``dataset_name`` column), so one download serves all six tasks.
Layouts: the hub's columns (images, question, options as a JSON letter->text map,
answer_label, answer, dataset_name, dataset_index, hash, misc) from the hub, parquet or
``save_to_disk``; or the seed paper's export (``data.jsonl`` + ``images/``: dataset_name,
dataset_index, image_paths, question, options_dict, answer_label, answer)."""

from __future__ import annotations

import json
import re

from ...answers import LETTERS
from ...errors import CorruptDataError, DataNotFoundError
from .common import VQAItem
from .locations import hf_table, hub_dataset, undecoded

HUB_ID = "UCSC-VLAA/MedVLThinker-Eval"
# dataset_name in the unified set -> our benchmark name
NAMES = {
    "pmc_vqa": "pmc_vqa",
    "pathvqa_closed": "pathvqa",
    "slake_closed": "slake",
    "vqa_rad_closed": "vqa_rad",
    "MMMU-medical": "mmmu_med",
    "MedXpertQA-MM": "medxpertqa_mm",
}
_MODALITY = {"pathvqa": "microscopy", "vqa_rad": "radiology"}
_OPTION_LINE = re.compile(r"^\s*\(?([A-J])\s*[.):]\s*(.*?)\s*$")


def _options(raw, where: str) -> dict:
    """The options as a letter -> text map: a dict, a JSON object string (the hub's form), or
    lines such as ``A. text`` / ``(B) text`` / ``C: text`` (copies re-exported as plain text)."""
    if isinstance(raw, dict):  # a parquet struct has every letter's field; unused ones are null
        raw = {k: v for k, v in raw.items() if v is not None and str(v).strip()}
        if raw:
            return raw
    elif isinstance(raw, str):
        try:
            parsed = json.loads(raw)
        except ValueError:
            lines = [_OPTION_LINE.match(line) for line in raw.strip().splitlines() if line.strip()]
            parsed = {m.group(1): m.group(2) for m in lines if m} if lines and all(lines) else None
        if isinstance(parsed, dict) and parsed:
            return parsed
    raise CorruptDataError(f"options are neither a letter -> text map nor lettered lines: {str(raw)[:80]!r}", where=where,
                           fix="expected JSON such as {\"A\": \"...\", \"B\": \"...\"} or lines 'A. ...'; re-download the set")


def _item(r: dict, images: list, where: str) -> VQAItem:
    raw = _options(r.get("options_dict") or r.get("options"), where)
    letters = sorted(raw)
    if letters != list(LETTERS[: len(letters)]):  # docs letter options by position
        raise CorruptDataError(f"row {r.get('dataset_index')} has option keys {letters}", where=where, fix="expected consecutive letters A, B, C, …")
    bench = NAMES[r["dataset_name"]]
    misc = r.get("misc")
    if isinstance(misc, str):
        try:  # metadata only (modality, question type): unreadable means unknown, not a failed load
            misc = json.loads(misc)
        except ValueError:
            misc = None
    misc = misc if isinstance(misc, dict) else {}
    label = str(r.get("answer_label") or "").strip().upper()
    return VQAItem(
        id=f"{bench}/medvlthinker/{r['dataset_index']}",
        question=str(r["question"]).strip(),
        answer=r.get("answer"),
        answer_letter=label if label in letters else None,
        options=[str(raw[k]) for k in letters],
        images=images,
        modality=str(misc.get("modality") or _MODALITY.get(bench, "unknown")),
        question_type=str(misc.get("question_type") or misc.get("answer_type") or "unknown"),
        meta={"dataset_index": r.get("dataset_index"), "hash": r.get("hash"), "unified": True},
        where=where,
    )


def read(location, benchmark: str) -> list[VQAItem]:
    """Rows of one benchmark (``benchmark`` is our name, e.g. ``vqa_rad``)."""
    wanted = {k for k, v in NAMES.items() if v == benchmark}
    if location.kind == "hub":
        tables = [("test", hub_dataset(HUB_ID, "test"))]
    else:
        tables = hf_table(location.path, ("test",), benchmark="medvlthinker_eval", default_split="test")  # the set has only a test split
    if tables is not None:
        items = []
        for _, table in tables:
            if "dataset_name" not in table.column_names:
                raise CorruptDataError("no dataset_name column: not the MedVLThinker-Eval set", where=str(location.path or HUB_ID))
            idx = [i for i, name in enumerate(table["dataset_name"]) if name in wanted]
            for i, r in zip(idx, undecoded(table.select(idx), "images")):
                items.append(_item(r, list(r["images"]), f"{location.path or HUB_ID} row {i}"))
        return items
    jsonl = location.path if location.path.is_file() else location.path / "data.jsonl"
    if not jsonl.is_file():
        raise DataNotFoundError("no MedVLThinker-Eval copy found (parquet, save_to_disk or data.jsonl)", where=str(location.path))
    items = []
    with jsonl.open(encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            r = json.loads(line)
            if r.get("dataset_name") in wanted:
                items.append(_item(r, [jsonl.parent / p for p in r.get("image_paths") or []], f"{jsonl} line {n}"))
    return items
