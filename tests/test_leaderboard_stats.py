"""Intervals and paired tests against hand-computed and published values."""

import math

import pytest
from lb_records import measured
from medbridge.harness.leaderboard.cells import Cell, fmt_cell, metric_cell
from medbridge.harness.leaderboard.stats import (
    RESAMPLES,
    bootstrap_interval,
    mcnemar_exact,
    paired_difference,
    proportion_interval,
    wilson_interval,
)


@pytest.mark.parametrize(
    "successes,n,low,high",
    [  # Newcombe (1998), Statistics in Medicine 17:857, Table I, method 3 (Wilson score, no continuity correction)
        (81, 263, 0.2553, 0.3662),
        (15, 148, 0.0624, 0.1605),
        (0, 20, 0.0, 0.1611),
        (1, 29, 0.0061, 0.1718),
        (29, 29, 0.8830, 1.0),
    ],
)
def test_wilson_matches_published_values(successes, n, low, high):
    interval = wilson_interval(successes, n)
    assert (round(interval.low, 4), round(interval.high, 4)) == (low, high)
    assert interval.method == "wilson"


def test_wilson_by_hand_for_half_of_eight():
    # p = 0.5, n = 8, z = 1.959964: centre 0.5; half = z/(1+z²/8) * sqrt(0.25/8 + z²/256) ≈ 1.32414 * 0.21507 ≈ 0.284784
    interval = wilson_interval(4, 8)
    assert interval.low == pytest.approx(0.5 - 0.284784, abs=1e-5) and interval.high == pytest.approx(0.5 + 0.284784, abs=1e-5)


def test_wilson_rejects_impossible_counts():
    with pytest.raises(ValueError):
        wilson_interval(9, 8)


def test_mcnemar_exact_by_hand():
    # discordant pairs 1 vs 9: p = 2 * P(X <= 1 | Bin(10, 1/2)) = 2 * 11 / 1024
    assert mcnemar_exact(1, 9) == pytest.approx(22 / 1024)
    assert mcnemar_exact(9, 1) == pytest.approx(22 / 1024)
    # 0 vs 5: 2 * (1/2)^5
    assert mcnemar_exact(0, 5) == pytest.approx(2 / 32)
    assert mcnemar_exact(3, 3) == 1.0
    assert mcnemar_exact(0, 0) == 1.0


def test_paired_binary_scores_use_mcnemar_with_the_discordant_counts():
    parent = [0, 1, 0, 0, 0, 0, 0, 0, 0, 1]
    child = [1, 1, 1, 1, 1, 1, 1, 1, 1, 0]
    d = paired_difference(child, parent)
    assert d.test == "McNemar exact" and d.discordant == (1, 8) and d.n == 10
    assert d.diff == pytest.approx(0.7)
    assert d.p == pytest.approx(2 * (1 + 9) / 512)  # 2 * P(X <= 1 | Bin(9, 1/2))
    assert d.low <= 0.7 <= d.high


def test_paired_bootstrap_of_a_constant_shift_is_exact():
    d = paired_difference([1.0] * 10, [0.75] * 10)
    assert d.test == "paired bootstrap"
    assert (d.diff, d.low, d.high) == pytest.approx((0.25, 0.25, 0.25))
    # every resampled mean difference is above 0: p = 2 * (0 + 1) / (B + 1)
    assert d.p == pytest.approx(2 / (RESAMPLES + 1))


def test_paired_bootstrap_with_no_difference_gives_p_one():
    d = paired_difference([0.25, 0.5, 0.75], [0.25, 0.5, 0.75])
    assert d.diff == 0 and d.p == 1.0


def test_bootstrap_is_deterministic_and_brackets_the_mean():
    values = [0.1, 0.9, 0.4, 0.35, 0.8, 0.05, 0.6]
    a, b = bootstrap_interval(values), bootstrap_interval(values)
    assert a == b and a.method == "bootstrap"
    assert a.low < sum(values) / len(values) < a.high
    assert bootstrap_interval([0.5] * 5).low == bootstrap_interval([0.5] * 5).high == 0.5


def test_proportion_interval_picks_wilson_for_right_wrong_scores():
    assert proportion_interval([1, 0, 1, 1]).method == "wilson"  # acc@1, or pass@16 from 16 samples
    assert proportion_interval([1, 0.5, 0.25]).method == "bootstrap"  # pass@k with k < n


def test_cells_fall_back_to_wilson_from_value_and_n_or_normal_from_stderr():
    record = measured("m", "medmnist_breast", {"acc@1": [1, 0, 1, 1]})
    del record["per_doc"]
    cell = metric_cell(record, "acc@1")
    assert cell.interval == wilson_interval(3, 4) and cell.n == 4
    passk = measured("m", "medmnist_breast_passk", {"pass@2": [0.5, 1.0]})
    del passk["per_doc"]
    passk["metrics"]["pass@2"]["stderr"] = 0.1
    cell = metric_cell(passk, "pass@2")
    assert cell.interval.method == "normal" and cell.interval.low == pytest.approx(0.75 - 0.196, abs=1e-3)
    assert "‡" in fmt_cell(cell)


def test_cell_formatting():
    assert fmt_cell(Cell(None)) == "–"
    assert fmt_cell(Cell(0.5499, "reported")) == "*54.99*"
    assert fmt_cell(Cell(0.5, n=8, interval=wilson_interval(4, 8))) == "50.0 <sub>[21.5, 78.5] n=8</sub>"
    assert fmt_cell(Cell(0.7917, "reported", delta=0.7917 - 0.5499)) == "*79.17*<br><sub>Δ +24.18 vs parent</sub>"
    assert not math.isnan(metric_cell(measured("m", "t", {"acc@1": [1, 0]}), "acc@1").interval.low)
