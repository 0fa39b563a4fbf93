"""Table rows: records grouped by model and provenance, ordered by lineage.

A row is one model as measured here, or one model as reported by one source. Reported rows come
first, then measured rows; inside each block a model's children (SFT, RL) follow it, indented,
so every child row sits under the parent its differences refer to. A child is compared only
with a parent of the same provenance (measured with measured on the same questions, reported
with the same source's reported numbers).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..errors import RecordError
from ..records import model_key
from .cells import Cell, fmt_cell, metric_cell, with_delta

STAGE_LABELS = {"base": "base", "sft": "SFT", "rl": "RL"}


@dataclass
class Row:
    model: str
    kind: str
    citation: str | None
    parent: str | None
    stage: str | None
    trained_on: tuple[str, ...]
    records: dict[str, dict] = field(default_factory=dict)  # task name -> record
    depth: int = 0

    @property
    def key(self) -> tuple:
        return (self.model, self.kind, self.citation)

    def where(self) -> str:
        places = sorted({r["provenance"].get("where") or "" for r in self.records.values()} - {""})
        return ", ".join(places)


def _lineage(record: dict) -> tuple:
    m = record["model"]
    return (m.get("parent"), m.get("stage"), tuple(m.get("trained_on") or ()))


def group_rows(records: list[dict], tasks=None) -> list[Row]:
    """Rows for the records of ``tasks`` (all when None), in display order."""
    rows: dict[tuple, Row] = {}
    for record in records:
        task = record["task"]["name"]
        if tasks is not None and task not in tasks:
            continue
        prov = record["provenance"]
        key = (model_key(record), prov["kind"], prov.get("citation"))
        parent, stage, trained_on = _lineage(record)
        row = rows.setdefault(key, Row(key[0], key[1], key[2], parent, stage, trained_on))
        if (row.parent, row.stage, row.trained_on) != (parent, stage, trained_on):
            other = next(iter(row.records.values()))
            raise RecordError(
                f"model {key[0]!r} has records with different lineage (parent/stage/trained_on)",
                where=f"{other.get('_file')} and {record.get('_file')}",
                fix="re-add the runs with the same --parent/--stage/--trained-on",
            )
        row.records[task] = record
    return _lineage_order(list(rows.values()))


def _lineage_order(rows: list[Row]) -> list[Row]:
    ordered: list[Row] = []

    def visit(row: Row, depth: int, children: dict[tuple, list[Row]]) -> None:
        row.depth = depth
        ordered.append(row)
        for child in sorted(children.get(row.key, []), key=lambda r: r.model.casefold()):
            visit(child, depth + 1, children)

    for kind in ("reported", "measured"):
        block = {r.key: r for r in rows if r.kind == kind}
        children: dict[tuple, list[Row]] = {}
        roots = []
        for row in block.values():
            parent_key = (row.parent, row.kind, row.citation)
            if row.parent is not None and parent_key in block:
                children.setdefault(parent_key, []).append(row)
            else:
                roots.append(row)
        for root in sorted(roots, key=lambda r: (r.citation or "", r.model.casefold())):
            visit(root, 0, children)
        if sum(1 for r in ordered if r.kind == kind) != len(block):
            seen = {id(r) for r in ordered}
            looped = sorted(r.model for r in block.values() if id(r) not in seen)
            raise RecordError(f"model lineage has a cycle: {', '.join(looped)}", fix="fix the parent of one of these models (`medbridge leaderboard add --parent`)")
    return ordered


def parent_row(row: Row, rows: list[Row]) -> Row | None:
    if row.parent is None:
        return None
    return next((r for r in rows if r.key == (row.parent, row.kind, row.citation)), None)


def escape(text: str) -> str:
    return text.replace("|", "\\|")


def model_label(row: Row) -> str:
    indent = "&nbsp;&nbsp;" * max(0, row.depth - 1) + ("↳ " if row.depth else "")
    label = indent + escape(row.model)
    if row.parent:
        stage = STAGE_LABELS.get(row.stage or "", "child")
        label += f"<br><sub>{stage} of {escape(row.parent)}</sub>"
    return label


def source_label(row: Row, paper_citation: str) -> str:
    if row.kind == "measured":
        return "measured"
    source = "paper" if row.citation == paper_citation else escape(row.citation or "")
    where = row.where()
    return f"*reported* ({source}{', ' + where if where else ''})"


@dataclass(frozen=True)
class Column:
    header: str
    tasks: tuple[str, ...]  # the first of these with a record fills the cell
    metric: str


def cell_for(row: Row, rows: list[Row], column: Column) -> Cell:
    record = next((row.records[t] for t in column.tasks if t in row.records), None)
    cell = metric_cell(record, column.metric)
    parent = parent_row(row, rows)
    if parent is None or record is None:
        return cell
    parent_record = parent.records.get(record["task"]["name"])
    return with_delta(cell, record, parent_record, column.metric)


def metric_table(records: list[dict], columns: list[Column], paper_citation: str, *, show_n: bool = True) -> dict | None:
    """``{"header", "rows"}`` for a models x columns table, or None when no record fits."""
    tasks = {t for c in columns for t in c.tasks}
    rows = [r for r in group_rows(records, tasks) if any(c.metric in r.records.get(t, {}).get("metrics", {}) for c in columns for t in c.tasks)]
    if not rows:
        return None
    body = []
    for row in rows:
        cells = [fmt_cell(cell_for(row, rows, c), show_n=show_n) for c in columns]
        body.append([model_label(row), source_label(row, paper_citation), *cells])
    return {"header": ["Model", "Source", *(c.header for c in columns)], "rows": body}
