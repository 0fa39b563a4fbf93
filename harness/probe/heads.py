"""The two probe heads fitted on frozen features; both select on the val split.

``paper``: the seed paper's ``linprobe.py`` head: non-affine ``BatchNorm1d(D, eps=1e-6)`` then
``Linear(D, C)`` (weights trunc-normal std 0.01, bias 0, as MAE's linear probe it follows),
float32 features, cross-entropy, SGD lr 0.1, momentum 0.9, no weight decay, batch 1024,
cosine schedule (``CosineAnnealingLR``, T_max = epochs, stepped once per epoch), 20 epochs.
Selection: the epoch with the best val accuracy (earliest on ties); its weights are kept.
Two differences from the paper's script, both forced by probing cached features: no train-time
augmentation (RandomResizedCrop/flip act on images), and a last batch of a single row is
skipped (BatchNorm cannot normalise one row in train mode). With few steps (a small train
split gives one step per epoch) BatchNorm's running statistics lag the data, as in the paper.

``logreg``: scikit-learn ``LogisticRegression`` (lbfgs, multinomial) on standardised features
(scaler fit on train), the fast path. Selection: C on a log grid 1e-4 … 1e2 by val accuracy
(smaller C on ties).
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass, field

import numpy as np

from ..errors import ConfigError
from .metrics import accuracy

HEADS = ("paper", "logreg")
PAPER_DEFAULTS = {"epochs": 20, "batch_size": 1024, "lr": 0.1, "momentum": 0.9, "weight_decay": 0.0, "bn_eps": 1e-6}
LOGREG_CS = tuple(float(c) for c in np.logspace(-4, 2, 7))


@dataclass
class FittedProbe:
    head: str
    model: object
    n_classes: int
    selection: dict  # what was chosen on val, and its val accuracy
    settings: dict
    history: list[dict] = field(default_factory=list)
    fit_seconds: float = 0.0

    def predict_proba(self, features: np.ndarray) -> np.ndarray:
        """Class probabilities (N, n_classes), float64."""
        if self.head == "paper":
            return _paper_proba(self.model, features)
        proba = self.model.predict_proba(features)
        full = np.zeros((len(features), self.n_classes))
        full[:, self.model.classes_] = proba  # classes absent from train get probability 0
        return full


def _check(train_x, train_y, val_x, val_y, n_classes):
    if len(train_x) < 2 or len(val_x) < 1:
        raise ConfigError(f"too few rows to fit a probe (train {len(train_x)}, val {len(val_x)})", fix="use a dataset with at least 2 train and 1 val rows")
    for name, y in (("train", train_y), ("val", val_y)):
        if y.min() < 0 or y.max() >= n_classes:
            raise ConfigError(f"{name} labels outside 0..{n_classes - 1}", fix="drop rows without a single class before fitting")


def _paper_proba(model, features: np.ndarray) -> np.ndarray:
    import torch

    device = next(model.parameters()).device
    model.eval()
    with torch.inference_mode():
        x = torch.as_tensor(features, dtype=torch.float32, device=device)
        return torch.cat([model(x[i : i + 8192]).softmax(-1) for i in range(0, len(x), 8192)]).double().cpu().numpy()


def fit_paper_head(train_x, train_y, val_x, val_y, n_classes: int, *, epochs: int = 20, batch_size: int = 1024, lr: float = 0.1,
                   momentum: float = 0.9, weight_decay: float = 0.0, seed: int = 0, device: str = "cpu") -> FittedProbe:
    import torch
    from torch import nn

    _check(train_x, train_y, val_x, val_y, n_classes)
    start_time = time.perf_counter()
    torch.manual_seed(seed)
    order = torch.Generator().manual_seed(seed)
    dim = train_x.shape[1]
    model = nn.Sequential(nn.BatchNorm1d(dim, affine=False, eps=PAPER_DEFAULTS["bn_eps"]), nn.Linear(dim, n_classes)).to(device)
    nn.init.trunc_normal_(model[1].weight, std=0.01)
    nn.init.zeros_(model[1].bias)
    optimiser = torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum, weight_decay=weight_decay)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, T_max=epochs)
    x = torch.as_tensor(train_x, dtype=torch.float32, device=device)
    y = torch.as_tensor(train_y, dtype=torch.long, device=device)
    best_acc, best_state, best_epoch, history = -1.0, None, 0, []
    for epoch in range(1, epochs + 1):
        model.train()
        losses = []
        for batch in torch.randperm(len(x), generator=order).to(device).split(batch_size):
            if len(batch) < 2:
                continue
            loss = nn.functional.cross_entropy(model(x[batch]), y[batch])
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
            losses.append(loss.item())
        schedule.step()
        val_acc = accuracy(val_y, _paper_proba(model, val_x))
        history.append({"epoch": epoch, "train_loss": float(np.mean(losses)), "val_acc": val_acc})
        if val_acc > best_acc:
            best_acc, best_epoch, best_state = val_acc, epoch, copy.deepcopy(model.state_dict())
    model.load_state_dict(best_state)
    settings = {"epochs": epochs, "batch_size": batch_size, "lr": lr, "momentum": momentum, "weight_decay": weight_decay,
                "bn_eps": PAPER_DEFAULTS["bn_eps"], "schedule": "cosine per epoch", "seed": seed}
    return FittedProbe("paper", model, n_classes, {"selected": "epoch", "epoch": best_epoch, "val_acc": best_acc}, settings, history,
                       time.perf_counter() - start_time)


def fit_logreg(train_x, train_y, val_x, val_y, n_classes: int, *, cs=LOGREG_CS, max_iter: int = 1000, seed: int = 0) -> FittedProbe:
    import warnings

    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    _check(train_x, train_y, val_x, val_y, n_classes)
    start_time = time.perf_counter()
    scaler = StandardScaler().fit(train_x)
    train_s, val_s = scaler.transform(train_x), scaler.transform(val_x)
    best, history = None, []
    for c in sorted(cs):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)  # recorded below instead
            clf = LogisticRegression(C=c, max_iter=max_iter, random_state=seed).fit(train_s, train_y)
        proba = np.zeros((len(val_s), n_classes))
        proba[:, clf.classes_] = clf.predict_proba(val_s)
        val_acc = accuracy(val_y, proba)
        history.append({"C": c, "val_acc": val_acc, "converged": bool(np.max(clf.n_iter_) < max_iter)})
        if best is None or val_acc > best[1]:
            best = (clf, val_acc, c)
    clf, val_acc, c = best
    pipeline = make_pipeline(scaler, clf)
    settings = {"solver": "lbfgs", "Cs": [float(v) for v in sorted(cs)], "max_iter": max_iter, "standardised": True, "seed": seed}
    return FittedProbe("logreg", pipeline, n_classes, {"selected": "C", "C": c, "val_acc": val_acc}, settings, history, time.perf_counter() - start_time)


def fit_probe(head: str, train_x, train_y, val_x, val_y, n_classes: int, *, seed: int = 0, device: str = "cpu", epochs: int | None = None) -> FittedProbe:
    if head == "paper":
        return fit_paper_head(train_x, train_y, val_x, val_y, n_classes, seed=seed, device=device, epochs=epochs or PAPER_DEFAULTS["epochs"])
    if head == "logreg":
        return fit_logreg(train_x, train_y, val_x, val_y, n_classes, seed=seed)
    raise ConfigError(f"unknown probe head {head!r}", fix=f"use one of {', '.join(HEADS)} (or both)")
