"""Plain-text result tables from records (the demo's and ``medbridge eval``'s summary)."""

from __future__ import annotations

from .metrics import PASS_KS


def _fmt(metric: dict | None) -> str:
    if not metric or metric.get("value") is None:
        return "–"
    return f"{100 * metric['value']:.1f}"


def results_table(records: list[dict]) -> str:
    """Markdown table, one row per task: Acc@1 from the greedy task, pass@k and sample accuracy
    from its ``_passk`` twin, no-answer rates of both (percent)."""
    rows: dict[str, dict] = {}
    for record in records:
        name = record["task"]["name"]
        base = name[: -len("_passk")] if name.endswith("_passk") else name
        row = rows.setdefault(base, {"n": record["n_docs"]})
        kind = "passk" if name.endswith("_passk") else "greedy"
        row[kind] = record["metrics"]
        row.setdefault("n_samples", 0)
        row["n_samples"] += record["n_samples"]
    header = ["task", "n", "Acc@1", *(f"pass@{k}" for k in PASS_KS), "no-answer greedy", "no-answer sampled"]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(["---"] + ["---:"] * (len(header) - 1)) + "|"]
    for base in sorted(rows):
        row = rows[base]
        greedy, passk = row.get("greedy", {}), row.get("passk", {})
        cells = [base, str(row["n"]), _fmt(greedy.get("acc@1"))]
        cells += [_fmt(passk.get(f"pass@{k}")) for k in PASS_KS]
        cells += [_fmt(greedy.get("no_answer_rate")), _fmt(passk.get("no_answer_rate"))]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)
