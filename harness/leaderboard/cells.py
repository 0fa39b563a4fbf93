"""One leaderboard cell: a record's metric with its n and 95% interval, and for a child row the
paired difference from its parent on the same questions.

Which interval (see stats.py): per-question 0/1 scores -> Wilson; other per-question scores ->
bootstrap; no per-question scores -> Wilson from value x n for accuracies, else mean ± 1.96·SE
when a standard error is recorded. Reported numbers are shown as printed, in italics, with no
interval (papers rarely give n).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from .stats import Interval, PairedDiff, normal_interval, paired_difference, proportion_interval, wilson_interval
from .store import LOCAL_DATA_KEYS

PROPORTION_METRICS = ("acc@1", "acc")  # one 0/1 outcome per question


@dataclass(frozen=True)
class Cell:
    value: float | None
    kind: str = "measured"
    n: int | None = None
    interval: Interval | None = None
    delta: PairedDiff | float | str | None = None  # paired test | reported difference | why none
    judge: str | None = None  # which judge produced a judged number, and how often it failed


def judge_note(record: dict, metric: str) -> str | None:
    """``judged by M (all), 0.4% without verdict`` for a judged metric of a judged record."""
    judge = record.get("judge") or {}
    if judge.get("mode", "off") == "off" or not (metric in ("acc@1", "sample_acc") or metric.startswith("pass@")):
        return None
    return f"judged by {judge['model']} ({judge['mode']}), {100 * judge['error_rate']:.1f}% without verdict"


def per_doc(record: dict, metric: str) -> dict[int, float] | None:
    """``{doc_id: score}`` for questions with a defined score, or None without per-doc data."""
    data = record.get("per_doc")
    if not data or metric not in data["scores"]:
        return None
    return {i: v for i, v in zip(data["doc_id"], data["scores"][metric]) if v is not None}


def metric_cell(record: dict | None, metric: str) -> Cell:
    if record is None or metric not in record["metrics"] or record["metrics"][metric]["value"] is None:
        return Cell(None)
    entry = record["metrics"][metric]
    value = entry["value"]
    if record["provenance"]["kind"] == "reported":
        return Cell(value, "reported", record.get("n_docs"))
    note = judge_note(record, metric)
    scores = per_doc(record, metric)
    if scores:
        return Cell(value, n=len(scores), interval=proportion_interval(list(scores.values())), judge=note)
    n = record["n_docs"]
    if metric in PROPORTION_METRICS:
        return Cell(value, n=n, interval=wilson_interval(round(value * n), n), judge=note)
    if entry.get("stderr") is not None:
        return Cell(value, n=n, interval=normal_interval(value, entry["stderr"]), judge=note)
    return Cell(value, n=n, judge=note)


def _data_settings(record: dict) -> dict:
    # where the files sit on one machine does not change which questions were asked
    return {k: v for k, v in (record.get("data") or {}).items() if k not in LOCAL_DATA_KEYS}


def compare(child: dict, parent: dict, metric: str) -> PairedDiff | str:
    """Paired child - parent difference, or why there is none."""
    a, b = per_doc(child, metric), per_doc(parent, metric)
    if a is None or b is None:
        return "no per-question scores"
    if _data_settings(child) != _data_settings(parent):
        return "different data settings"
    if set(a) != set(b):
        return "different questions"
    targets_a = dict(zip(child["per_doc"]["doc_id"], child["per_doc"].get("target") or []))
    targets_b = dict(zip(parent["per_doc"]["doc_id"], parent["per_doc"].get("target") or []))
    if any(targets_a.get(i) != targets_b.get(i) for i in a if i in targets_a and i in targets_b):
        return "different questions (answers differ)"
    ids = sorted(a)
    return paired_difference([a[i] for i in ids], [b[i] for i in ids])


def with_delta(cell: Cell, child: dict | None, parent: dict | None, metric: str) -> Cell:
    if cell.value is None or parent is None or metric not in parent["metrics"] or parent["metrics"][metric]["value"] is None:
        return cell
    if cell.kind == "reported":
        return replace(cell, delta=cell.value - parent["metrics"][metric]["value"])
    return replace(cell, delta=compare(child, parent, metric))


def _signed(x: float, digits: int) -> str:
    return f"{round(x, digits) + 0.0:+.{digits}f}"  # + 0.0 turns -0.0 into 0.0


def fmt_p(p: float) -> str:
    return "p<0.001" if p < 0.001 else f"p={p:.3f}"


def fmt_delta(delta) -> str:
    if delta is None:
        return ""
    if isinstance(delta, str):
        return f"Δ n/a: {delta}"
    if isinstance(delta, float):
        return f"Δ {_signed(100 * delta, 2)} vs parent"
    star = "*" if delta.p < 0.05 else ""
    return f"Δ {_signed(100 * delta.diff, 1)} [{_signed(100 * delta.low, 1)}, {_signed(100 * delta.high, 1)}] {fmt_p(delta.p)}{star}"


def fmt_cell(cell: Cell, *, show_n: bool = True) -> str:
    """Markdown for a cell: reported ``*54.99*``; measured ``54.9 <sub>[44.2, 65.3] n=84</sub>``."""
    if cell.value is None:
        return "–"
    if cell.kind == "reported":
        text = f"*{100 * cell.value:.2f}*"
    else:
        parts = []
        if cell.interval is not None:
            mark = "‡" if cell.interval.method == "normal" else ""  # the page footnotes say why
            parts.append(f"[{100 * cell.interval.low:.1f}, {100 * cell.interval.high:.1f}]{mark}")
        if show_n and cell.n is not None:
            parts.append(f"n={cell.n}")
        text = f"{100 * cell.value:.1f}" + (f" <sub>{' '.join(parts)}</sub>" if parts else "")
    if cell.delta is not None:
        text += f"<br><sub>{fmt_delta(cell.delta)}</sub>"
    if cell.judge is not None:
        text += f"<br><sub>{cell.judge}</sub>"
    return text
