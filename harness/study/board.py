"""A study's evaluations into a leaderboard: records with the study's lineage, then a build.

Row names are the study's model and stage names; a trained stage's parent is the node it started
from, so every child row carries its paired Δ against its parent on the same questions. Each
record notes the study, stage and key that made it; re-running an edited study replaces its own
earlier record of the same model and task, and refuses to overwrite one it did not make.
Everything is checked before anything is written.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import ConfigError
from ..records import model_key
from .plan import Planned, Planner


def lineage(planner: Planner, planned: Planned) -> dict:
    """Display name, parent, stage and trained-on of the model an evaluation stage measured."""
    target = planner.planned[planned.node.parent].node
    if target.kind == "model":
        return {"name": target.name, "parent": target.lineage_parent, "stage": target.stage or "base",
                "trained_on": target.trained_on or None}
    # trained-on comes from the run card (medbridge eval wrote it into the records)
    return {"name": target.name, "parent": target.parent, "stage": "sft" if target.kind == "sft" else "rl", "trained_on": None}


def study_records(planner: Planner, evaluations: list[Planned]) -> list[dict]:
    from ..leaderboard import collect, prepare

    out = []
    for planned in evaluations:
        for record in prepare(collect(planned.eval_dir), **lineage(planner, planned)):
            record["study"] = {"name": planner.study.name, "stage": planned.node.name, "key": planned.key}
            out.append(record)
    return out


def add_and_build(planner: Planner, evaluations: list[Planned], root: Path) -> tuple[list[Path], list[str]]:
    """Write the records of ``evaluations`` into ``root`` and rebuild its pages; return the
    record files and the pages that changed."""
    from ..leaderboard import build, load_records, resolve_root, write_record
    from ..leaderboard.store import RESULTS, record_path

    records = study_records(planner, evaluations)
    root = resolve_root(root, create=True)
    existing = load_records(root / RESULTS, exact=True) if (root / RESULTS).is_dir() else []
    slots = {(model_key(r), r["task"]["name"]): r for r in existing if r["provenance"]["kind"] == "measured"}
    superseded = []
    for record in records:
        old = slots.get((model_key(record), record["task"]["name"]))
        if old is None:
            continue
        old_file = root / RESULTS / old["_file"]
        if old_file == record_path(root, record):
            continue  # the same run again: rewritten in place
        if (old.get("study") or {}).get("name") != planner.study.name:
            raise ConfigError(
                f"the leaderboard already holds a measured record of {model_key(record)!r} on {record['task']['name']!r} that this study did not make",
                where=str(old_file), fix="rename the model or stage in the study, or write to another --root",
            )
        superseded.append(old_file)
    for path in superseded:
        path.unlink()
    files = [write_record(root, record) for record in records]
    return files, build(root)
