"""The six medical VQA benchmarks as MCQ docs (see each module for its layouts).

``load_docs(benchmark, split)`` is what the task YAMLs reach through ``process_docs``;
``split`` is ``paper`` (seeded 200-item subsets; all 170 MMMU-Med MCQs) or ``test`` (the full
multiple-choice test set). ``survey`` / ``check`` serve ``medbridge data list`` and
``medbridge data check``.
"""

from __future__ import annotations

from pathlib import Path

from ...errors import DataNotFoundError
from ..mcq import MCQDoc
from . import medvlthinker, medxpertqa_mm, mmmu_med, pathvqa, pmc_vqa, slake, vqa_rad
from .common import ConversionReport, VQAItem, apply_protocol, load_image, to_docs, to_mcq
from .locations import BENCHMARKS, UNIFIED, Location, check_name, env_var, locate

READERS = {
    "vqa_rad": vqa_rad.read,
    "slake": slake.read,
    "pathvqa": pathvqa.read,
    "pmc_vqa": pmc_vqa.read,
    "mmmu_med": mmmu_med.read,
    "medxpertqa_mm": medxpertqa_mm.read,
}
HUB_IDS = {
    "vqa_rad": vqa_rad.HUB_ID,
    "slake": slake.HUB_ID,
    "pathvqa": pathvqa.HUB_ID,
    "pmc_vqa": f"{pmc_vqa.HUB_ID} ({pmc_vqa.HUB_CONFIG})",
    "mmmu_med": mmmu_med.HUB_ID,
    "medxpertqa_mm": f"{medxpertqa_mm.HUB_ID} ({medxpertqa_mm.HUB_CONFIG})",
    UNIFIED: medvlthinker.HUB_ID,
}


def read_items(benchmark: str, location: Location | None = None) -> list[VQAItem]:
    location = location or locate(benchmark)
    if location.kind == "unified":
        return medvlthinker.read(location, benchmark)
    return READERS[benchmark](location)


def mcq_items(benchmark: str, split: str = "paper", location: Location | None = None) -> tuple[list[VQAItem], ConversionReport]:
    check_name(benchmark)
    if benchmark == UNIFIED:
        raise DataNotFoundError("medvlthinker_eval is a data source, not a task", fix="use one of the six benchmark names; the unified copy serves them all")
    report = ConversionReport(benchmark)
    items = to_mcq(read_items(benchmark, location), report)
    if not items:
        raise DataNotFoundError(f"{benchmark}: no multiple-choice question in the local copy ({report.rows} rows read)", where=(location or locate(benchmark)).describe())
    # MMMU-Med's paper protocol is all of its 170 MCQs (notes/data.md §5).
    return apply_protocol(items, split, report, keep_all=benchmark == "mmmu_med"), report


def load_docs(benchmark: str, split: str = "paper") -> list[MCQDoc]:
    items, report = mcq_items(benchmark, split)
    return to_docs(items, benchmark)


def survey(benchmark: str) -> dict:
    """Where a benchmark is read from and how many items each protocol gives (no images read)."""
    location = locate(benchmark)
    row = {"benchmark": benchmark, "where": location.describe(), "kind": location.kind}
    if location.kind == "hub":
        row["status"] = f"not checked (hub id {HUB_IDS[benchmark]}; set {env_var(benchmark)} for a local copy)"
        return row
    items, report = mcq_items(benchmark, "test", location)
    row.update(report.as_dict())
    row["paper"] = len(apply_protocol(items, "paper", ConversionReport(benchmark), keep_all=benchmark == "mmmu_med"))
    row["status"] = "found"
    return row


def check(benchmark: str) -> tuple[dict, list[str]]:
    """Validate a local copy: every row readable, every referenced image present and decodable.
    Returns the survey row and the list of problems (empty when the copy is complete)."""
    row = survey(benchmark)
    if row["kind"] == "hub":
        return row, []
    items, _ = mcq_items(benchmark, "test")
    problems: dict[str, str] = {}  # one line per missing or broken image, however many rows use it
    for item in items:
        for ref in item.images:
            key = str(ref.get("path") if isinstance(ref, dict) else ref)
            if key in problems and isinstance(ref, Path):
                continue
            try:
                load_image(ref, item.where)
            except Exception as exc:  # collect them all: the user wants the full list
                problems.setdefault(key, str(exc))
    return row, list(problems.values())
