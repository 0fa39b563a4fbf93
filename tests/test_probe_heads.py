"""The two probe heads on synthetic features, and the metrics against hand-computed values."""

import numpy as np
import pytest
from medbridge.harness.errors import ConfigError
from medbridge.harness.probe.heads import fit_probe
from medbridge.harness.probe.metrics import accuracy, auc, score_block

N_CLASSES, DIM = 4, 32


def make_split(rng, centres, n, shuffle=False):
    y = rng.integers(0, N_CLASSES, n)
    x = (centres[y] + rng.normal(0, 1, (n, DIM)) + 5).astype(np.float32)  # offset: BatchNorm/scaling must handle it
    return x, (rng.permutation(y) if shuffle else y)


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    centres = rng.normal(0, 1, (N_CLASSES, DIM)) * 2
    return {s: make_split(rng, centres, n) for s, n in (("train", 1200), ("val", 300), ("test", 600))}


@pytest.mark.parametrize("head", ["paper", "logreg"])
def test_head_separates_separable_classes(head, data):
    fitted = fit_probe(head, *data["train"], *data["val"], N_CLASSES)
    scores = fitted.predict_proba(data["test"][0])
    assert scores.shape == (600, N_CLASSES) and np.allclose(scores.sum(1), 1)
    result = score_block(data["test"][1], scores)
    assert result["acc"] >= 0.95 and result["auc"] >= 0.99
    assert fitted.selection["val_acc"] == max(h["val_acc"] for h in fitted.history)


@pytest.mark.parametrize("head", ["paper", "logreg"])
def test_head_is_at_chance_on_shuffled_labels(head):
    rng = np.random.default_rng(1)
    x = {s: rng.normal(0, 1, (n, DIM)).astype(np.float32) for s, n in (("train", 1200), ("val", 300), ("test", 2000))}
    y = {s: rng.integers(0, N_CLASSES, len(x[s])) for s in x}  # labels carry no information about x
    fitted = fit_probe(head, x["train"], y["train"], x["val"], y["val"], N_CLASSES)
    result = score_block(y["test"], fitted.predict_proba(x["test"]))
    assert abs(result["acc"] - 1 / N_CLASSES) < 0.05  # 2000 rows: chance 0.25 +- 0.01
    assert abs(result["auc"] - 0.5) < 0.05


def test_paper_head_is_the_papers_head(data):
    fitted = fit_probe("paper", *data["train"], *data["val"], N_CLASSES, epochs=5)
    norm, linear = fitted.model
    assert not norm.affine and norm.eps == 1e-6 and (linear.in_features, linear.out_features) == (DIM, N_CLASSES)
    assert fitted.settings | {"epochs": 20} == {"epochs": 20, "batch_size": 1024, "lr": 0.1, "momentum": 0.9, "weight_decay": 0.0, "bn_eps": 1e-6,
                                                 "schedule": "cosine per epoch", "seed": 0}
    assert [h["epoch"] for h in fitted.history] == [1, 2, 3, 4, 5]
    best = max(fitted.history, key=lambda h: h["val_acc"])  # max() keeps the earliest on ties
    assert fitted.selection == {"selected": "epoch", "epoch": best["epoch"], "val_acc": best["val_acc"]}
    again = fit_probe("paper", *data["train"], *data["val"], N_CLASSES, epochs=5)
    np.testing.assert_array_equal(again.predict_proba(data["test"][0]), fitted.predict_proba(data["test"][0]))  # seeded


def test_logreg_gives_zero_probability_to_classes_absent_from_train(data):
    x, y = data["train"]
    keep = y != 3
    fitted = fit_probe("logreg", x[keep], y[keep], *data["val"], N_CLASSES)
    scores = fitted.predict_proba(data["test"][0])
    assert scores.shape == (600, N_CLASSES) and (scores[:, 3] == 0).all()
    assert fitted.selection["C"] in fitted.settings["Cs"]


def test_head_errors():
    x = np.zeros((4, 2), np.float32)
    with pytest.raises(ConfigError, match="unknown probe head 'svm'"):
        fit_probe("svm", x, np.zeros(4, int), x, np.zeros(4, int), 2)
    with pytest.raises(ConfigError, match="train labels outside 0..1"):
        fit_probe("logreg", x, np.array([0, 1, 2, 0]), x, np.zeros(4, int), 2)


def test_metrics_against_hand_computed_values():
    y = np.array([0, 0, 1, 1])
    scores = np.array([[0.9, 0.1], [0.3, 0.7], [0.35, 0.65], [0.2, 0.8]])
    assert accuracy(y, scores) == 0.75  # row 1 is wrong
    assert auc(y, scores) == 0.75  # positive-negative pairs ordered right: 3 of 4 (0.65 < 0.7)
    y3 = np.array([0, 1, 2, 2])
    s3 = np.array([[0.6, 0.3, 0.1], [0.5, 0.3, 0.2], [0.1, 0.2, 0.7], [0.3, 0.4, 0.3]])
    # one-vs-rest: class 0 1.0; class 1 (0.3 vs 0.3 tie, vs 0.2 win, vs 0.4 loss) 0.5; class 2 1.0
    assert auc(y3, s3) == pytest.approx((1.0 + 0.5 + 1.0) / 3)
    assert auc(np.array([2, 2]), s3[:2]) is None  # one class present: undefined
    assert auc(np.array([0, 0]), scores[:2]) is None
    multi = np.array([[1, 0], [0, 1], [1, 1], [0, 0]])
    probs = np.array([[0.9, 0.2], [0.3, 0.7], [0.6, 0.4], [0.1, 0.5]])
    assert accuracy(multi, probs, multi_label=True) == 7 / 8  # only (row 2, label 1) is wrong at > 0.5
    assert auc(multi, probs, multi_label=True) == pytest.approx((1.0 + 0.75) / 2)
