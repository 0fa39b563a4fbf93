"""Accuracy@1, unbiased pass@k and their per-question forms for lmms-eval aggregation.

lmms-eval has no pass@k metric (it only offers ``take_first_k`` filters), so the estimator is
written here. Per-question values are returned from ``process_results`` and averaged by
:func:`exact_mean` (the task YAMLs name it as their aggregation; medbridge's plugin gives it
the standard error :func:`exact_stderr`); groups average with ``weight_by_size``.

Exact sums: lmms-eval's ``mean`` adds values in the order they arrive, which depends on how
many processes shared the questions (and on its result threads), so one and two processes
differed in the last digit. ``math.fsum`` returns the correctly rounded sum of the values
whatever their order, which is the same as summing them in doc-id order exactly: one and N
processes give byte-identical metrics.
"""

from __future__ import annotations

import math
from collections.abc import Sequence


def pass_ks(n: int) -> tuple[int, ...]:
    """The k a task with n samples per question reports: every power of two <= n, and n itself
    (so the curve always ends at the task's own Pass@n)."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"pass_ks needs a sample count n >= 1, got {n!r}")
    ks = [1 << i for i in range(n.bit_length()) if 1 << i <= n]
    return tuple(ks if ks[-1] == n else [*ks, n])


PASS_KS = pass_ks(16)  # the paper's n = 16: 1, 2, 4, 8, 16


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k for one question: 1 - C(n-c, k) / C(n, k) (Chen et al., 2021).

    Computed in product form, 1 - prod_{i=n-c+1}^{n} (1 - k/i), which stays exact where the
    binomials overflow. Returns NaN when fewer than k samples exist (n < k): the estimator is
    undefined there and reporting 1.0 or c/n would silently mislead.
    """
    if n < 0 or c < 0 or c > n or k < 1:
        raise ValueError(f"pass_at_k needs 0 <= c <= n and k >= 1, got n={n}, c={c}, k={k}")
    if n < k:
        return math.nan
    if n - c < k:
        return 1.0
    prod = 1.0
    for i in range(n - c + 1, n + 1):
        prod *= 1.0 - k / i
    return 1.0 - prod


def question_scores(correct: Sequence[bool], answered: Sequence[bool], ks: Sequence[int] = PASS_KS) -> dict[str, float]:
    """Per-question metrics from the per-sample grades of one question's n samples.

    ``acc@1`` is the first sample's correctness (with greedy decoding: Accuracy@1);
    ``sample_acc`` the fraction of correct samples (= pass@1 when sampling);
    ``no_answer_rate`` the fraction of samples the grader could not read; ``pass@k`` for every
    requested k (NaN when n < k).
    """
    n = len(correct)
    if n == 0 or len(answered) != n:
        raise ValueError("question_scores needs one answered flag per sample and at least one sample")
    c = sum(bool(x) for x in correct)
    scores = {
        "acc@1": float(bool(correct[0])),
        "sample_acc": c / n,
        "no_answer_rate": sum(not a for a in answered) / n,
    }
    for k in ks:
        scores[f"pass@{k}"] = pass_at_k(n, c, k)
    return scores


def exact_mean(values: Sequence[float]) -> float:
    """The mean with a correctly rounded sum (independent of the values' order); NaN when
    empty, NaN propagates. lmms-eval aggregation for every per-question metric."""
    values = list(values)
    return math.fsum(values) / len(values) if values else math.nan


def exact_stderr(values: Sequence[float]) -> float:
    """Standard error of :func:`exact_mean` (sample std / sqrt(m), lmms-eval's formula) with
    exact sums; NaN for fewer than two values."""
    values = list(values)
    m = len(values)
    if m < 2:
        return math.nan
    mean = exact_mean(values)
    return math.sqrt(math.fsum((v - mean) ** 2 for v in values) / (m - 1)) / math.sqrt(m)


def mean_and_stderr(values: Sequence[float]) -> tuple[float, float]:
    """Mean and standard error of the mean (sample std / sqrt(m)); NaN propagates."""
    return exact_mean(values), exact_stderr(values)


def weighted_mean(values: Sequence[float], sizes: Sequence[int]) -> float:
    """Size-weighted mean of task scores, as lmms-eval's ``weight_by_size`` groups compute."""
    total = sum(sizes)
    if total == 0:
        return math.nan
    return math.fsum(v * s for v, s in zip(values, sizes)) / total
