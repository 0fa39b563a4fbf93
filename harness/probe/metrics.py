"""Test accuracy and AUC as MedMNIST reports them (``medmnist.Evaluator``'s definitions).

- single-label (binary, multi-class, ordinal): ACC = argmax accuracy; AUC = the mean over
  classes of the one-vs-rest ROC AUC (for two classes: the AUC of the positive class's score).
- multi-label (ChestMNIST in the MedMNIST v2 baseline): ACC = mean per-label accuracy at
  score > 0.5; AUC = mean per-label ROC AUC.

A class with no positive rows in ``y`` has no ROC curve; it is left out of the mean (and when
fewer than two classes are present the AUC is undefined: None).
"""

from __future__ import annotations

import math

import numpy as np


def accuracy(y: np.ndarray, scores: np.ndarray, multi_label: bool = False) -> float:
    if multi_label:
        return float(((scores > 0.5) == (y > 0)).mean())
    return float((scores.argmax(1) == y).mean())


def auc(y: np.ndarray, scores: np.ndarray, multi_label: bool = False) -> float | None:
    from sklearn.metrics import roc_auc_score

    if multi_label:
        onehot = (y > 0).astype(int)
    else:
        onehot = np.zeros_like(scores, dtype=int)
        onehot[np.arange(len(y)), y] = 1
    positives, negatives = onehot.sum(0), len(onehot) - onehot.sum(0)
    keep = (positives > 0) & (negatives > 0)
    if not multi_label and scores.shape[1] == 2:
        return float(roc_auc_score(onehot[:, 1], scores[:, 1])) if keep.all() else None
    if not keep.any():
        return None
    return float(roc_auc_score(onehot[:, keep], scores[:, keep], average="macro"))


def binomial_stderr(p: float, n: int) -> float | None:
    """Standard error of an accuracy over n independent rows."""
    return math.sqrt(p * (1 - p) / n) if n > 1 else None


def score_block(y: np.ndarray, scores: np.ndarray, multi_label: bool = False) -> dict:
    """``{"acc", "auc", "n"}`` for one evaluation set."""
    return {"acc": accuracy(y, scores, multi_label), "auc": auc(y, scores, multi_label), "n": len(y)}
