"""The six medical VQA benchmarks as MCQ docs (see each module for its layouts).

``load_docs(benchmark, split)`` is what the task YAMLs reach through ``process_docs`` and
training through the source registry. ``split`` is ``paper`` (the paper's protocol: seeded
200-item subsets of the test split; all 170 MMMU-Med MCQs), or a split of the benchmark's
release (:data:`SPLITS`; ``val``/``validate`` mean ``validation``), all of whose MCQs are used.
Every doc's ``meta.split`` and id name the split it came from. ``survey`` / ``check`` serve
``medbridge data list`` and ``medbridge data check``.
"""

from __future__ import annotations

from pathlib import Path

from ...errors import ConfigError, DataNotFoundError
from ..mcq import MCQDoc
from . import medvlthinker, medxpertqa_mm, mmmu_med, pathvqa, pmc_vqa, slake, vqa_rad
from .common import ConversionReport, VQAItem, apply_protocol, load_image, to_docs, to_mcq
from .locations import BENCHMARKS, UNIFIED, Location, canonical_split, check_name, env_var, locate

__all__ = ["BENCHMARKS", "SPLITS", "UNIFIED", "ConversionReport", "VQAItem", "check", "check_name", "env_var", "load_docs", "locate", "mcq_items", "source_splits", "survey"]

# The splits of each benchmark's release (canonical names). MMMU's test split has no answers, so
# its "test" (and the paper protocol) means dev + validation, as the paper evaluates it.
SPLITS = {
    "vqa_rad": ("train", "test"),
    "slake": ("train", "validation", "test"),
    "pathvqa": ("train", "validation", "test"),
    "pmc_vqa": ("train", "test"),
    "mmmu_med": ("dev", "validation"),
    "medxpertqa_mm": ("dev", "test"),
}
_TEST_OF = {"mmmu_med": ("dev", "validation")}
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


def source_splits(benchmark: str, split: str) -> tuple[str, ...]:
    """The release splits a task split reads: ``paper`` and ``test`` read the test split (MMMU:
    dev + validation); any other name is one release split (aliases resolved)."""
    check_name(benchmark)
    if benchmark == UNIFIED:
        raise DataNotFoundError("medvlthinker_eval is a data source, not a task", fix="use one of the six benchmark names; the unified copy serves them all")
    if split in ("paper", "test"):
        return _TEST_OF.get(benchmark, ("test",))
    name = canonical_split(split)
    if name not in SPLITS[benchmark]:
        raise ConfigError(f"{benchmark} has no split {split!r}", fix=f"use `paper` (the paper's protocol) or one of its splits: {', '.join(SPLITS[benchmark])}")
    return (name,)


def read_items(benchmark: str, split: str = "test", location: Location | None = None) -> list[VQAItem]:
    """The rows of one release split, as the location's layout stores them."""
    location = location or locate(benchmark)
    if location.kind == "unified":
        _unified_holds(benchmark, (split,), location)
        items = medvlthinker.read(location, benchmark)
    else:
        items = READERS[benchmark](location, split)
    for item in items:
        item.split = split
    return items


def _unified_holds(benchmark: str, splits: tuple[str, ...], location: Location) -> None:
    if not set(splits) <= set(source_splits(benchmark, "test")):
        raise DataNotFoundError(f"the MedVLThinker-Eval copy holds only the test items of {benchmark}, not its {'+'.join(splits)} split", where=location.describe(),
                                fix=f"set {env_var(benchmark)} to a copy of the benchmark's own release for its other splits")


def mcq_items(benchmark: str, split: str = "paper", location: Location | None = None) -> tuple[list[VQAItem], ConversionReport]:
    splits = source_splits(benchmark, split)
    location = location or locate(benchmark)
    report = ConversionReport(benchmark, source_split="+".join(splits))
    if location.kind == "unified":  # one read: the unified set holds the test items only
        _unified_holds(benchmark, splits, location)
        rows = medvlthinker.read(location, benchmark)
        for row in rows:
            row.split = report.source_split
    else:
        rows = [item for name in splits for item in read_items(benchmark, name, location)]
    items = to_mcq(rows, report)
    if not items:
        raise DataNotFoundError(f"{benchmark}: no multiple-choice question in the {report.source_split} split of the local copy ({report.rows} rows read)", where=location.describe())
    # MMMU-Med's paper protocol is all of its 170 MCQs (arXiv 2603.01301 Table 3).
    return apply_protocol(items, split, report, keep_all=benchmark == "mmmu_med"), report


def load_docs(benchmark: str, split: str = "paper", path: str | Path | None = None) -> list[MCQDoc]:
    """MCQ docs of one benchmark split; ``path`` names a local copy (instead of the variables)."""
    items, _ = mcq_items(benchmark, split, locate(benchmark, path) if path is not None else None)
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
