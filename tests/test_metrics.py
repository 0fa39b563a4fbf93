import math
from itertools import combinations

import pytest
from medbridge.harness.metrics import mean_and_stderr, pass_at_k, question_scores, weighted_mean


def brute_force_pass_at_k(n, c, k):
    """Probability that a random k-subset of n samples (c correct) holds a correct one."""
    samples = [True] * c + [False] * (n - c)
    subsets = list(combinations(range(n), k))
    return sum(any(samples[i] for i in s) for s in subsets) / len(subsets)


@pytest.mark.parametrize(
    "n,c,k,expected",
    [
        (16, 0, 1, 0.0),  # c = 0
        (16, 16, 16, 1.0),  # c = n
        (16, 4, 1, 0.25),  # pass@1 = c / n
        (16, 1, 16, 1.0),  # n = k with one correct: certain
        (16, 0, 16, 0.0),  # n = k with none correct
        (4, 1, 2, 0.5),  # 1 - C(3,2)/C(4,2) = 1 - 3/6
        (5, 2, 2, 0.7),  # 1 - C(3,2)/C(5,2) = 1 - 3/10
        (16, 2, 4, 0.45),  # 1 - C(14,4)/C(16,4) = 1 - 1001/1820
        (10, 3, 5, 1 - 21 / 252),  # 1 - C(7,5)/C(10,5)
    ],
)
def test_pass_at_k_matches_hand_computed_values(n, c, k, expected):
    assert pass_at_k(n, c, k) == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize("n,c,k", [(8, 3, 2), (12, 5, 4), (7, 1, 7), (9, 8, 3)])
def test_pass_at_k_equals_brute_force_enumeration(n, c, k):
    assert pass_at_k(n, c, k) == pytest.approx(brute_force_pass_at_k(n, c, k), abs=1e-12)


def test_pass_at_k_is_nan_when_fewer_samples_than_k():
    assert math.isnan(pass_at_k(8, 8, 16))
    assert math.isnan(pass_at_k(1, 0, 2))


@pytest.mark.parametrize("n,c,k", [(4, 5, 1), (-1, 0, 1), (4, 1, 0)])
def test_pass_at_k_rejects_impossible_counts(n, c, k):
    with pytest.raises(ValueError):
        pass_at_k(n, c, k)


def test_pass_at_k_stays_exact_where_binomials_overflow_floats():
    # C(2000, 1000) overflows a float; the product form does not.
    assert pass_at_k(2000, 1, 1000) == pytest.approx(0.5, abs=1e-12)


def test_question_scores_counts_first_sample_mean_and_no_answers():
    correct = [False, True, True, False]
    answered = [True, True, True, False]
    s = question_scores(correct, answered, ks=(1, 2, 4, 8))
    assert s["acc@1"] == 0.0
    assert s["sample_acc"] == 0.5
    assert s["no_answer_rate"] == 0.25
    assert s["pass@1"] == 0.5
    assert s["pass@2"] == pytest.approx(1 - 1 / 6)  # 1 - C(2,2)/C(4,2)
    assert s["pass@4"] == 1.0
    assert math.isnan(s["pass@8"])


def test_mean_and_stderr_and_weighted_mean():
    mean, se = mean_and_stderr([1.0, 0.0, 1.0, 0.0])
    assert mean == 0.5
    assert se == pytest.approx(math.sqrt((4 * 0.25 / 3) / 4))
    assert weighted_mean([1.0, 0.0], [3, 1]) == 0.75
    assert math.isnan(weighted_mean([], []))


def test_exact_mean_and_stderr_do_not_depend_on_the_order_questions_arrive_in():
    import random

    from medbridge.harness.metrics import exact_mean, exact_stderr

    rng = random.Random(0)
    values = [1 - (1 - 2 / 16) ** c for c in (rng.randrange(17) for _ in range(160))]  # pass@2-like values
    orders = [rng.sample(values, len(values)) for _ in range(20)]
    assert len({sum(o) / len(o) for o in orders}) > 1  # lmms-eval's `mean`: the last digit moves
    assert len({exact_mean(o) for o in orders}) == 1 and len({exact_stderr(o) for o in orders}) == 1
    assert exact_mean(values) == pytest.approx(sum(values) / len(values), rel=1e-15)
    assert exact_stderr([1.0, 0.0, 1.0, 0.0]) == pytest.approx(0.5 / 2 * (4 / 3) ** 0.5)


def test_lmms_eval_reports_the_exact_stderr_for_medbridge_tasks():
    import lmms_eval.evaluator_utils as evaluator_utils
    from medbridge.harness.lmms.discovery import install_exact_stderr
    from medbridge.harness.metrics import exact_mean, exact_stderr

    install_exact_stderr()  # what the entry point does when lmms-eval loads its models
    stderr_for_metric = evaluator_utils.stderr_for_metric  # the name lmms-eval's TaskOutput calls
    assert stderr_for_metric(metric=exact_mean, bootstrap_iters=100000) is exact_stderr
    assert stderr_for_metric(metric=exact_mean, bootstrap_iters=0) is None
    assert stderr_for_metric(metric=max, bootstrap_iters=10) is None  # other functions: lmms-eval's answer
