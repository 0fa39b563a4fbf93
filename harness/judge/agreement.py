"""How well the judge agrees with an exact grade: the MCQ rule grader (or, for open questions,
exact match). Multiple-choice questions are a free calibration set: the rule grade of a
letter is exact, so every disagreement is a judge error or a completion the rule could not
read.

From (rule, judge) pairs of right/wrong: raw agreement, Cohen's kappa (scikit-learn's
``cohen_kappa_score``; undefined when both graders give one constant grade), and the judge's
false-positive rate P(judge right | rule wrong) and false-negative rate P(judge wrong | rule
right) against the rule.
"""

from __future__ import annotations

import math


def agreement(pairs: list[tuple[bool, bool]]) -> dict:
    n = len(pairs)
    both = sum(1 for r, j in pairs if r and j)
    judge_only = sum(1 for r, j in pairs if j and not r)
    rule_only = sum(1 for r, j in pairs if r and not j)
    neither = n - both - judge_only - rule_only
    out = {
        "n": n,
        "counts": {"both_correct": both, "judge_only_correct": judge_only, "rule_only_correct": rule_only, "both_incorrect": neither},
        "raw_agreement": (both + neither) / n if n else None,
        "kappa": kappa(pairs),
        "false_positive_rate": judge_only / (judge_only + neither) if judge_only + neither else None,
        "false_negative_rate": rule_only / (rule_only + both) if rule_only + both else None,
    }
    return out


def kappa(pairs: list[tuple[bool, bool]]) -> float | None:
    """Cohen's kappa, or None where it is undefined (no pairs, or chance agreement is 1)."""
    if not pairs:
        return None
    rule = [int(r) for r, _ in pairs]
    judge = [int(j) for _, j in pairs]
    if len(set(rule) | set(judge)) == 1:
        return None  # both graders gave one and the same grade: expected agreement is 1
    from sklearn.metrics import cohen_kappa_score

    value = float(cohen_kappa_score(rule, judge, labels=[0, 1]))
    return None if math.isnan(value) else value
