"""95% intervals for leaderboard cells and paired tests for parent/child rows.

- A proportion of n questions (Acc@1, probe accuracy): Wilson score interval, which keeps its
  coverage near 0 and 1 and for the small n of medical sets, where the normal interval fails.
- A mean of per-question values in [0, 1] (pass@k, sample accuracy): percentile bootstrap over
  questions.
- Child vs parent on the same questions: the paired difference with a paired-bootstrap 95%
  interval; its p-value from McNemar's exact test when per-question scores are 0/1 (Acc@1),
  from the paired bootstrap otherwise (pass@k).

Bootstraps draw from numpy's legacy ``RandomState`` with a fixed seed: its stream is frozen
across numpy releases (NEP 19), so pages rebuilt on another machine are byte-identical.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np

Z95 = NormalDist().inv_cdf(0.975)
RESAMPLES = 2000
SEED = 0
_CHUNK = 200  # bootstrap rows drawn at a time: bounded memory for large test sets


@dataclass(frozen=True)
class Interval:
    low: float
    high: float
    method: str  # "wilson" | "bootstrap" | "normal"


@dataclass(frozen=True)
class PairedDiff:
    diff: float  # child - parent, over the questions both were scored on
    low: float
    high: float
    p: float
    test: str  # "McNemar exact" | "paired bootstrap"
    n: int
    discordant: tuple[int, int] | None = None  # (parent right/child wrong, parent wrong/child right)


def wilson_interval(successes: int, n: int, z: float = Z95) -> Interval:
    if n < 1 or not 0 <= successes <= n:
        raise ValueError(f"wilson_interval needs 0 <= successes <= n and n >= 1, got {successes}/{n}")
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z / denom * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    # clamp rounding noise at the edges (0/n must give exactly 0 as the lower bound)
    return Interval(max(0.0, centre - half), min(1.0, centre + half), "wilson")


def normal_interval(mean: float, stderr: float) -> Interval:
    """Mean ± 1.96·SE, clipped to [0, 1]: used only where a record holds a standard error
    but no per-question scores."""
    return Interval(max(0.0, mean - Z95 * stderr), min(1.0, mean + Z95 * stderr), "normal")


def _bootstrap_means(columns: list[np.ndarray], resamples: int, seed: int) -> list[np.ndarray]:
    """Means of each column over the same ``resamples`` resamplings of the rows."""
    n = len(columns[0])
    rng = np.random.RandomState(seed)
    out = [np.empty(resamples) for _ in columns]
    for start in range(0, resamples, _CHUNK):
        rows = min(_CHUNK, resamples - start)
        idx = rng.randint(0, n, size=(rows, n))
        for col, dest in zip(columns, out):
            dest[start : start + rows] = col[idx].mean(axis=1)
    return out


def _percentiles(values: np.ndarray) -> tuple[float, float]:
    low, high = np.percentile(values, [2.5, 97.5])
    return float(low), float(high)


def bootstrap_interval(values, resamples: int = RESAMPLES, seed: int = SEED) -> Interval:
    data = np.asarray(values, dtype=float)
    if data.size == 0 or np.isnan(data).any():
        raise ValueError("bootstrap_interval needs at least one value and no NaN")
    (means,) = _bootstrap_means([data], resamples, seed)
    return Interval(*_percentiles(means), "bootstrap")


def is_binary(values) -> bool:
    return all(v in (0, 1) for v in values)


def proportion_interval(values) -> Interval:
    """Wilson for 0/1 scores, bootstrap for anything in between."""
    if is_binary(values):
        return wilson_interval(int(sum(values)), len(values))
    return bootstrap_interval(values)


def mcnemar_exact(parent_only: int, child_only: int) -> float:
    """Two-sided exact McNemar p-value: the discordant pairs as Binomial(b + c, 1/2)."""
    from scipy.stats import binomtest

    total = parent_only + child_only
    if total == 0:
        return 1.0
    return float(binomtest(child_only, total, 0.5, alternative="two-sided").pvalue)


def paired_difference(child, parent, resamples: int = RESAMPLES, seed: int = SEED) -> PairedDiff:
    """Child minus parent on aligned per-question scores (same questions, same order)."""
    c = np.asarray(child, dtype=float)
    p = np.asarray(parent, dtype=float)
    if c.shape != p.shape or c.size == 0 or np.isnan(c).any() or np.isnan(p).any():
        raise ValueError("paired_difference needs two equally long, non-empty score lists without NaN")
    diffs = c - p
    (boot,) = _bootstrap_means([diffs], resamples, seed)
    low, high = _percentiles(boot)
    if is_binary(c) and is_binary(p):
        parent_only = int(((p == 1) & (c == 0)).sum())
        child_only = int(((p == 0) & (c == 1)).sum())
        return PairedDiff(float(diffs.mean()), low, high, mcnemar_exact(parent_only, child_only), "McNemar exact", c.size, (parent_only, child_only))
    # two-sided bootstrap p: how often a resampled mean difference falls on the other side of 0
    below, above = int((boot <= 0).sum()), int((boot >= 0).sum())
    p_value = min(1.0, 2 * (min(below, above) + 1) / (resamples + 1))
    return PairedDiff(float(diffs.mean()), low, high, p_value, "paired bootstrap", c.size)
