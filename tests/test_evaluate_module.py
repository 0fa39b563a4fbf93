import math

import pytest


def test_pass_at_k_evaluate_module_loads_offline_by_path_and_agrees(monkeypatch):
    evaluate = pytest.importorskip("evaluate")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    from medbridge.harness.hf_evaluate import PASS_AT_K

    metric = evaluate.load(PASS_AT_K)
    out = metric.compute(predictions=[["A", "B", "A", None], ["C", "C", "D", "D"]], references=["A", "B"], k=[1, 2, 4, 8])
    assert out["n_questions"] == 2
    assert out["pass@1"] == pytest.approx((2 / 4 + 0) / 2)
    assert out["pass@2"] == pytest.approx((1 - 1 / 6 + 0) / 2)
    assert out["pass@4"] == pytest.approx(0.5)
    assert math.isnan(out["pass@8"])
