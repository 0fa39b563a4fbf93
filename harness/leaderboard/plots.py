"""Leaderboard figures as PNG bytes that are identical from one build to the next.

Every figure is drawn on a bare ``Figure`` with the Agg canvas (no pyplot state, no GUI
backend) under matplotlib's built-in defaults plus the fixed settings below, so a user's
matplotlibrc cannot change the pixels; the PNG carries no software or date metadata. The pinned
matplotlib release (pyproject.toml) bundles its fonts and FreeType, which fixes the rest.
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from contextlib import contextmanager
from dataclasses import dataclass

FIXED_RC = {
    "font.family": "DejaVu Sans",
    "font.size": 8,
    "axes.titlesize": 9,
    "axes.labelsize": 8,
    "legend.fontsize": 7,
    "figure.dpi": 100,
    "savefig.dpi": 100,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "lines.linewidth": 1.4,
    "lines.markersize": 4,
}
COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf")
ADVICE_COLORS = {"bridge": "#d62728", "sharpen": "#ff7f0e", "sufficient": "#2ca02c"}


@contextmanager
def fixed_style():
    import matplotlib

    with matplotlib.rc_context():
        matplotlib.rcdefaults()  # ignore any matplotlibrc; restored when the context ends
        matplotlib.rcParams.update(FIXED_RC)
        yield


def _figure(width: float, height: float):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", metadata={"Software": None})
    return buf.getvalue()


@dataclass(frozen=True)
class Curve:
    label: str
    ks: Sequence[int]
    values: Sequence[float]
    lows: Sequence[float]
    highs: Sequence[float]
    acc1: float | None = None  # greedy Accuracy@1, drawn as a marker at k = 1


def passk_curves(title: str, panels: list[tuple[str, list[Curve]]]) -> bytes:
    """One panel per task (pass@k against k on a log2 axis, shaded 95% intervals), one line per
    model; the paper's Figure 1 groups these panels by modality."""
    from matplotlib.lines import Line2D

    cols = min(3, len(panels))
    rows = math.ceil(len(panels) / cols)
    with fixed_style():
        fig = _figure(3.0 * cols, 2.4 * rows + 0.6)
        axes = fig.subplots(rows, cols, squeeze=False)
        colors: dict[str, str] = {}  # one colour per model across panels
        for ax, (panel_title, curves) in zip(axes.flat, panels):
            for curve in curves:
                color = colors.setdefault(curve.label, COLORS[len(colors) % len(COLORS)])
                ax.plot(curve.ks, curve.values, marker="o", color=color, label=curve.label)
                ax.fill_between(curve.ks, curve.lows, curve.highs, color=color, alpha=0.15, linewidth=0)
                if curve.acc1 is not None:
                    ax.plot([1], [curve.acc1], marker="x", markersize=7, color=color, linestyle="none")
            ax.set_xscale("log", base=2)
            ks = sorted({k for c in curves for k in c.ks})
            ax.set_xticks(ks, [str(k) for k in ks])
            ax.set_ylim(0, 1.02)
            ax.set_title(panel_title)
            ax.set_xlabel("k")
            ax.set_ylabel("pass@k")
        for ax in list(axes.flat)[len(panels):]:
            ax.set_visible(False)
        handles = [Line2D([], [], color=color, marker="o", label=label) for label, color in colors.items()]
        fig.legend(handles=handles, loc="outside lower center", ncols=min(4, len(handles)), title="x = greedy Acc@1")
        fig.suptitle(title)
        return _png(fig)


@dataclass(frozen=True)
class Delta:
    label: str  # "model: task"
    group: str  # regime
    metric: str  # "Acc@1" | "Pass@16"
    diff: float
    low: float
    high: float


def transfer_deltas(deltas: list[Delta]) -> bytes:
    """Horizontal bars of child - parent per evaluated task, one panel per metric, grouped by
    transfer regime (the paper's Figure 2)."""
    metrics = sorted({d.metric for d in deltas}, key=lambda m: (m != "Acc@1", m))
    labels = list(dict.fromkeys(f"{d.group}: {d.label}" for d in deltas))
    with fixed_style():
        fig = _figure(4.0 * len(metrics), 0.35 * len(labels) + 1.2)
        axes = fig.subplots(1, len(metrics), squeeze=False, sharey=True)
        for ax, metric in zip(axes.flat, metrics):
            ys, xs, errs, colors = [], [], [[], []], []
            for y, label in enumerate(labels):
                match = [d for d in deltas if d.metric == metric and f"{d.group}: {d.label}" == label]
                if match:
                    d = match[0]
                    ys.append(y)
                    xs.append(100 * d.diff)
                    errs[0].append(100 * (d.diff - d.low))
                    errs[1].append(100 * (d.high - d.diff))
                    colors.append(COLORS[0] if d.diff >= 0 else COLORS[1])
            ax.barh(ys, xs, xerr=errs, color=colors, alpha=0.8, capsize=2)
            ax.axvline(0, color="black", linewidth=0.8)
            ax.set_yticks(range(len(labels)), labels)
            ax.invert_yaxis()
            ax.set_xlabel(f"Δ {metric} after − before (points, 95% CI)")
        fig.suptitle("RL transfer: change from the parent checkpoint")
        return _png(fig)


def scatter(points: list[tuple[str, float, float, str]], *, xlabel: str, ylabel: str, title: str, vline: float | None = None, color_by: dict | None = None) -> bytes:
    """Labelled points (label, x, y, group) with the y = x diagonal; ``vline`` draws a threshold
    (the diagnosis' tau). Groups are coloured by ``color_by`` or in order."""
    groups = list(dict.fromkeys(p[3] for p in points))
    with fixed_style():
        fig = _figure(5.0, 4.2)
        ax = fig.subplots()
        ax.plot([0, 1], [0, 1], color="grey", linewidth=0.8, linestyle="--", label="y = x")
        if vline is not None:
            ax.axvline(vline, color="black", linewidth=1.0, linestyle=":", label=f"τ = {vline:g}")
        for i, group in enumerate(groups):
            pts = [p for p in points if p[3] == group]
            color = (color_by or {}).get(group, COLORS[i % len(COLORS)])
            ax.scatter([p[1] for p in pts], [p[2] for p in pts], color=color, label=group, s=18, zorder=3)
        if len(points) <= 40:  # beyond that the labels only hide the points
            for label, x, y, _ in points:
                right = x > 0.8  # keep labels near the right edge inside the axes
                ax.annotate(label, (x, y), xytext=(-3 if right else 3, 3), textcoords="offset points", fontsize=6, ha="right" if right else "left")
        ax.set_xlim(-0.02, 1.04)
        ax.set_ylim(-0.02, 1.04)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        ax.set_title(title)
        ax.legend(loc="upper left")
        return _png(fig)
