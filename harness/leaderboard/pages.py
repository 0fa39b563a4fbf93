"""What each leaderboard page shows, computed from records: template contexts and plots.

Every function takes the validated records and returns ``(context, plots)`` where ``plots`` maps
a file name under ``plots/`` to PNG bytes. Prose and layout live in the Jinja2 templates.
"""

from __future__ import annotations

import math

from ..sources.catalogue import MEDMNIST, MEDMNIST_LABELS, MODALITIES, VQA_BENCHMARKS, VQA_LABELS
from .cells import fmt_cell, metric_cell
from .diagnose import DEFAULT_GAP, DEFAULT_K, DEFAULT_TAU, diagnose
from .paper import CITATION
from .plots import Curve, Delta, passk_curves, scatter, transfer_deltas
from .rows import Column, cell_for, group_rows, metric_table, model_label, parent_row, source_label

REGIMES = ("in-domain", "within-modality", "cross-modality", "other")


def _medmnist_columns(prefixes: tuple[str, ...], metric: str) -> list[Column]:
    return [Column(MEDMNIST_LABELS[name], tuple(p + name for p in prefixes), metric) for name in MEDMNIST]


def vision_probes(records: list[dict]) -> tuple[dict, dict]:
    tables = []
    for metric, title in (("acc", "Accuracy"), ("auc", "AUC")):
        table = metric_table(records, _medmnist_columns(("probe_medmnist_", "baseline_medmnist_"), metric), CITATION)
        if table:
            tables.append({"title": title, **table})
    return {"tables": tables}, {}


def medmnist_acc1(records: list[dict]) -> tuple[dict, dict]:
    table = metric_table(records, _medmnist_columns(("medmnist_",), "acc@1"), CITATION)
    # perception vs answering: where a model has both a probe score and Acc@1 on a dataset
    points = []
    tasks = {f"{p}{n}" for n in MEDMNIST for p in ("probe_medmnist_", "medmnist_")}
    for row in group_rows(records, tasks):
        group = row.model + (" (reported)" if row.kind == "reported" else "")
        for name in MEDMNIST:
            probe = metric_cell(row.records.get(f"probe_medmnist_{name}"), "acc")
            acc = metric_cell(row.records.get(f"medmnist_{name}"), "acc@1")
            if probe.value is not None and acc.value is not None:
                points.append((MEDMNIST_LABELS[name], probe.value, acc.value, group))
    plots = {}
    if points:
        plots["probe_vs_acc1.png"] = scatter(
            points, xlabel="linear-probe accuracy of the frozen vision tower", ylabel="Acc@1 (greedy, multiple choice)",
            title="What the vision tower separates vs what the model answers",
        )  # fmt: skip
    return {"table": table, "plot": "plots/probe_vs_acc1.png" if points else None}, plots


def _pass_ks(records: list[dict]) -> list[int]:
    return sorted({int(m.split("@")[1]) for r in records for m in r["metrics"] if m.startswith("pass@") and m.split("@")[1].isdigit()})


def _passk_sections(records: list[dict]) -> list[tuple[str, str, list[tuple[str, str]]]]:
    """(section id, title, [(task, label)]) for every task that has a ``_passk`` record."""
    sampled = {r["task"]["name"].removesuffix("_passk") for r in records if r["task"]["name"].endswith("_passk")}
    sections = []
    for modality, title in MODALITIES.items():
        tasks = [(f"medmnist_{n}", MEDMNIST_LABELS[n]) for n, d in MEDMNIST.items() if d.modality == modality and f"medmnist_{n}" in sampled]
        sections.append((modality, f"MedMNIST — {title}", tasks))
    sections.append(("medvqa", "Medical VQA", [(t, VQA_LABELS[t]) for t in VQA_BENCHMARKS if t in sampled]))
    known = {t for _, _, tasks in sections for t, _ in tasks}
    sections.append(("other", "Other tasks", [(t, t) for t in sorted(sampled - known)]))
    return [s for s in sections if s[2]]


def _diagnosis(row, task: str, k: int, tau: float, gap: float):
    sampled = row.records.get(f"{task}_passk")
    if sampled is None or f"pass@{k}" not in sampled["metrics"]:
        return None
    return diagnose(list(row.records.values()), k=k, tau=tau, gap=gap)[0]


def passk(records: list[dict], k: int = DEFAULT_K, tau: float = DEFAULT_TAU, gap: float = DEFAULT_GAP) -> tuple[dict, dict]:
    sections, plots = [], {}
    for section_id, title, tasks in _passk_sections(records):
        panels, task_tables = [], []
        for task, label in tasks:
            mine = [r for r in records if r["task"]["name"] in (task, f"{task}_passk")]
            ks = _pass_ks(mine)
            columns = [Column("Acc@1", (task,), "acc@1"), *(Column(f"pass@{j}", (f"{task}_passk",), f"pass@{j}") for j in ks)]
            rows = group_rows(mine)
            body, curves = [], []
            for row in rows:
                cells = [cell_for(row, rows, c) for c in columns]
                d = _diagnosis(row, task, k, tau, gap)
                advice = "–" if d is None or d.advice == "incomplete" else d.advice + (" (borderline)" if d.borderline else "")
                gap_text = "–" if d is None or d.gap is None else f"{100 * d.gap:+.1f}"
                body.append([model_label(row), source_label(row, CITATION), *(fmt_cell(c) for c in cells), gap_text, advice])
                points = [(j, c) for j, c in zip(ks, cells[1:]) if c.value is not None and c.interval is not None]
                if points:
                    curves.append(Curve(row.model, [j for j, _ in points], [c.value for _, c in points],
                                        [c.interval.low for _, c in points], [c.interval.high for _, c in points], cells[0].value))  # fmt: skip
            header = ["Model", "Source", *(c.header for c in columns), f"gap (S_{k} − A)", f"advice (τ = {tau:g})"]
            task_tables.append({"title": label, "task": task, "header": header, "rows": body})
            if curves:
                panels.append((label, curves))
        plot = None
        if panels:
            plot = f"plots/passk_{section_id}.png"
            plots[f"passk_{section_id}.png"] = passk_curves(f"Pass@k — {title}", panels)
        sections.append({"id": section_id, "title": title, "tables": task_tables, "plot": plot})
    return {"sections": sections, "k": k, "tau": tau, "gap": gap}, plots


def _mean(values: list[float]) -> float:
    return sum(values) / len(values)


def medvqa(records: list[dict]) -> tuple[dict, dict]:
    columns = [Column(VQA_LABELS[t], (t,), "acc@1") for t in VQA_BENCHMARKS]
    rows = group_rows(records, {*VQA_BENCHMARKS, "medvqa"})
    body, notes = [], []
    for row in rows:
        cells = [cell_for(row, rows, c) for c in columns]
        values = [c.value for c in cells]
        avg = "–"
        if row.kind == "reported":
            printed = metric_cell(row.records.get("medvqa"), "acc@1")
            if printed.value is not None:
                avg = fmt_cell(printed)
                if None not in values and abs(_mean(values) - printed.value) > 1e-4:
                    avg += f"<br><sub>mean of the six: {100 * _mean(values):.2f}</sub>"
                    notes.append(f"{row.model}: the source prints Avg. {100 * printed.value:.2f}, the mean of its six printed cells is {100 * _mean(values):.2f}.")
        elif None not in values and all(c.n for c in cells):
            mean = _mean(values)
            # normal approximation: independent binomial standard errors, averaged
            se = math.sqrt(sum(c.value * (1 - c.value) / c.n for c in cells)) / len(cells)
            avg = f"{100 * mean:.1f} <sub>[{100 * max(0.0, mean - 1.96 * se):.1f}, {100 * min(1.0, mean + 1.96 * se):.1f}]‡ n={sum(c.n for c in cells)}</sub>"
            deltas = [c.delta for c in cells]
            if all(hasattr(d, "diff") for d in deltas):
                avg += f"<br><sub>Δ {100 * _mean([d.diff for d in deltas]):+.1f} (mean of the six paired Δ)</sub>"
        if any(v is not None for v in values) or avg != "–":
            body.append([model_label(row), source_label(row, CITATION), *(fmt_cell(c) for c in cells), avg])
    table = {"header": ["Model", "Source", *(c.header for c in columns), "Avg."], "rows": body} if body else None
    return {"table": table, "notes": notes}, {}


def regime(eval_task: str, trained_on: tuple[str, ...]) -> str:
    name = eval_task.removeprefix("medmnist_")
    if name in trained_on or eval_task in trained_on:
        return "in-domain"
    if name in MEDMNIST and any(t in MEDMNIST for t in trained_on):
        modalities = {MEDMNIST[t].modality for t in trained_on if t in MEDMNIST}
        return "within-modality" if MEDMNIST[name].modality in modalities else "cross-modality"
    return "other"


def _label(task: str) -> str:
    return MEDMNIST_LABELS.get(task.removeprefix("medmnist_"), VQA_LABELS.get(task, task))


def rl_transfer(records: list[dict], k: int = DEFAULT_K) -> tuple[dict, dict]:
    measured = [r for r in records if r["provenance"]["kind"] == "measured"]
    rows = group_rows(measured)
    order = {t: i for i, t in enumerate([f"medmnist_{n}" for n in MEDMNIST] + list(VQA_BENCHMARKS))}
    body, deltas = [], []
    for row in rows:
        parent = parent_row(row, rows)
        if parent is None or not row.trained_on:
            continue
        tasks = sorted({t.removesuffix("_passk") for t in row.records}, key=lambda t: (order.get(t, len(order)), t))
        for task in sorted(tasks, key=lambda t: REGIMES.index(regime(t, row.trained_on))):
            kind = regime(task, row.trained_on)
            cols = [Column("Acc@1", (task,), "acc@1"), Column(f"Pass@{k}", (f"{task}_passk",), f"pass@{k}")]
            line = [model_label(row), ", ".join(row.trained_on), _label(task), kind]
            for column in cols:
                # "before" is the parent's plain number; "after" carries the paired Δ from it
                before = metric_cell(parent.records.get(column.tasks[0]), column.metric)
                after = cell_for(row, rows, column)
                line += [fmt_cell(before), fmt_cell(after)]
                if hasattr(after.delta, "diff"):
                    d = after.delta
                    deltas.append(Delta(f"{row.model}: {_label(task)}", kind, column.header, d.diff, d.low, d.high))
            body.append(line)
    header = ["Model", "Trained on", "Evaluated on", "Regime", "Acc@1 before", "Acc@1 after", f"Pass@{k} before", f"Pass@{k} after"]
    plots = {"transfer_deltas.png": transfer_deltas(deltas)} if deltas else {}
    return {"table": {"header": header, "rows": body} if body else None, "plot": "plots/transfer_deltas.png" if deltas else None, "k": k}, plots
