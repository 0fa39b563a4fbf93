"""Support diagnosis (the paper's Eq. 1 and section 4 recipe) from result records.

For each model x task: S_K = Pass@K (latent support, from the task's ``_passk`` record),
A = Acc@1 (greedy, from the task's own record), gap = S_K - A, and the advice:

- ``bridge`` when S_K < tau: the right answer is rarely even sampled; add task- or
  modality-proximal data and fine-tune (SFT) to raise support before any RL;
- ``sharpen`` when S_K >= tau and the gap is large (>= ``gap``): the support is there but greedy
  decoding misses it; RL converts it into Acc@1 (watch S_K for collapse while doing so);
- ``sufficient`` otherwise.

The paper leaves "large" open; ``gap`` defaults to 0.10 (ten points). ``borderline`` marks rows
whose S_K 95% interval contains tau, where more questions would be needed to be sure.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass

from ..errors import ConfigError
from ..records import model_key
from .cells import metric_cell

DEFAULT_K = 16
DEFAULT_TAU = 0.5
DEFAULT_GAP = 0.10
PASSK_SUFFIX = "_passk"


@dataclass(frozen=True)
class Diagnosis:
    model: str
    task: str
    kind: str  # measured | reported
    k: int
    support: float | None  # S_K
    accuracy: float | None  # A
    gap: float | None
    advice: str  # bridge | sharpen | sufficient | incomplete
    n: int | None = None
    support_low: float | None = None
    support_high: float | None = None
    borderline: bool = False
    reason: str = ""


def advise(support: float, accuracy: float, tau: float = DEFAULT_TAU, gap: float = DEFAULT_GAP) -> str:
    if support < tau:
        return "bridge"
    if support - accuracy >= gap - 1e-9:  # 0.5 - 0.4 is 0.0999… in floating point
        return "sharpen"
    return "sufficient"


def diagnose(records: list[dict], k: int = DEFAULT_K, tau: float = DEFAULT_TAU, gap: float = DEFAULT_GAP) -> list[Diagnosis]:
    """One diagnosis per model x task that has Acc@1 or Pass@K in ``records``."""
    if k < 1:
        raise ConfigError(f"--k must be >= 1, got {k}")
    if not 0 < tau <= 1:
        raise ConfigError(f"--tau must be in (0, 1], got {tau}", fix="tau is a Pass@K level, e.g. 0.5")
    metric = f"pass@{k}"
    greedy: dict[tuple, dict] = {}
    sampled: dict[tuple, dict] = {}
    for record in records:
        name = record["task"]["name"]
        base = name.removesuffix(PASSK_SUFFIX)
        key = (model_key(record), record["provenance"]["kind"], base)
        if metric in record["metrics"]:
            sampled[key] = record
        if "acc@1" in record["metrics"] and not name.endswith(PASSK_SUFFIX):
            greedy[key] = record
    if not greedy and not sampled:
        raise ConfigError(f"no record holds acc@1 or {metric}", fix="pass records of medbridge tasks and their _passk twins (e.g. medmnist_breast and medmnist_breast_passk)")
    # Reported rows rarely come with Pass@K; listing each as incomplete would only bury the rest.
    keys = set(sampled) | {key for key in greedy if key[1] == "measured"}
    if not keys:
        raise ConfigError(f"no record holds {metric}", fix="evaluate the _passk twins of the tasks (e.g. medmnist_breast_passk) and pass their records")
    out = []
    for key in sorted(keys):
        model, kind, task = key
        a_cell = metric_cell(greedy.get(key), "acc@1")
        s_cell = metric_cell(sampled.get(key), metric)
        if a_cell.value is None or s_cell.value is None:
            if key not in greedy:
                reason = f"no {task} record with acc@1"
            elif key not in sampled:
                reason = f"no {task}{PASSK_SUFFIX} record with {metric}"
            elif s_cell.value is None:
                reason = f"{metric} undefined (fewer than {k} samples per question)"
            else:
                reason = "acc@1 undefined"
            out.append(Diagnosis(model, task, kind, k, s_cell.value, a_cell.value, None, "incomplete", reason=reason))
            continue
        low = s_cell.interval.low if s_cell.interval else None
        high = s_cell.interval.high if s_cell.interval else None
        out.append(
            Diagnosis(
                model, task, kind, k, s_cell.value, a_cell.value, s_cell.value - a_cell.value,
                advise(s_cell.value, a_cell.value, tau, gap), s_cell.n, low, high,
                borderline=low is not None and low < tau <= high,
            )
        )
    return out


def _pct(x: float | None) -> str:
    return "–" if x is None else f"{100 * x:.1f}"


def diagnosis_table(rows: list[Diagnosis], tau: float = DEFAULT_TAU, gap: float = DEFAULT_GAP) -> str:
    """Markdown table of the diagnoses (percent)."""
    k = rows[0].k if rows else DEFAULT_K
    header = ["model", "task", "source", "n", f"S_{k} (Pass@{k})", f"S_{k} 95% CI", "A (Acc@1)", "gap", "advice"]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(["---"] * 3 + ["---:"] * 5 + ["---"]) + "|"]
    for d in rows:
        ci = f"[{_pct(d.support_low)}, {_pct(d.support_high)}]" if d.support_low is not None else "–"
        advice = d.advice + (" (borderline: CI contains τ)" if d.borderline else "") + (f" — {d.reason}" if d.reason else "")
        gap_text = "–" if d.gap is None else f"{100 * d.gap:+.1f}"
        cells = [d.model, d.task, d.kind, "–" if d.n is None else str(d.n), _pct(d.support), ci, _pct(d.accuracy), gap_text, advice]
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    lines.append("")
    lines.append(f"bridge: S_{k} < τ = {tau:g}; sharpen: S_{k} ≥ τ and gap ≥ {100 * gap:g} points; sufficient: otherwise.")
    return "\n".join(lines)


def diagnosis_json(rows: list[Diagnosis]) -> str:
    return json.dumps([asdict(d) for d in rows], indent=2, sort_keys=True)


def diagnosis_csv(rows: list[Diagnosis]) -> str:
    import csv
    import io

    buf = io.StringIO()
    fields = list(Diagnosis.__dataclass_fields__)
    writer = csv.DictWriter(buf, fieldnames=fields, lineterminator="\n")
    writer.writeheader()
    for d in rows:
        writer.writerow(asdict(d))
    return buf.getvalue()


def diagnosis_plot(rows: list[Diagnosis], tau: float = DEFAULT_TAU) -> bytes:
    """PNG: A against S_K, one point per model x task, coloured by advice, with the τ line."""
    from .plots import ADVICE_COLORS, scatter

    points = [(f"{d.model}: {d.task}", d.support, d.accuracy, d.advice) for d in rows if d.advice != "incomplete"]
    if not points:
        raise ConfigError("nothing to plot: no model x task has both Acc@1 and Pass@K", fix="add the greedy and _passk records of the same tasks")
    k = rows[0].k
    return scatter(points, xlabel=f"S_{k} = Pass@{k} (support)", ylabel="A = Acc@1 (greedy)", title=f"Support diagnosis (τ = {tau:g})", vline=tau, color_by=ADVICE_COLORS)
