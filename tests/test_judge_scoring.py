"""Judged scores inside the MCQ hooks: modes off / fallback / all, exclusion of judge errors,
agreement with the rule grader (kappa on a hand-computed case), per-task modes from YAML."""

import json
import re

import pytest
from judge_servers import CORRECT, INCORRECT, ScriptedJudge, reference_judge
from medbridge.harness.errors import ConfigError
from medbridge.harness.judge import task_config
from medbridge.harness.judge.agreement import agreement, kappa
from medbridge.harness.judge.hooks import error_rate, judge_summary
from medbridge.harness.lmms import hooks as mcq_hooks


def doc(question="Is there a mass?", answer="A", options=("Yes", "No")):
    return {"id": "t/1", "question": question, "options": list(options), "answer": answer, "answer_text": options["AB".index(answer)],
            "modality": "CT", "source": "vqa_rad", "meta": json.dumps({"question_type": "PRES"})}  # fmt: skip


@pytest.fixture
def judge_env(monkeypatch, tmp_path):
    def start(mode, script=(), default=CORRECT, **env):
        server = ScriptedJudge(script, default=default).__enter__()
        monkeypatch.setenv("MEDBRIDGE_JUDGE_BASE_URL", server.url)
        monkeypatch.setenv("MEDBRIDGE_JUDGE_MODEL", "judge")
        monkeypatch.setenv("MEDBRIDGE_JUDGE_CACHE", str(tmp_path / f"judge-{server.server.server_port}.sqlite"))
        monkeypatch.setenv("MEDBRIDGE_JUDGE_BACKOFF", "0.001")
        if mode:
            monkeypatch.setenv("MEDBRIDGE_JUDGE_MODE", mode)
        for k, v in env.items():
            monkeypatch.setenv(k, v)
        started.append(server)
        return server

    started = []
    monkeypatch.delenv("MEDBRIDGE_JUDGE_MODE", raising=False)
    yield start
    for server in started:
        server.__exit__()


RESPONSES = ["<think>x</think><answer>A</answer>", "The answer is A.", "<answer>B</answer>", "answer: A"]


def test_mode_off_is_the_rule_grader_alone_and_asks_nothing(judge_env):
    server = judge_env(None)
    out = mcq_hooks.passk_results(doc(), RESPONSES)
    assert out["sample_acc"] == 0.25 and out["no_answer_rate"] == 0.5
    assert "judge" not in out and "judge_error_rate" not in out and not server.requests


def test_fallback_judges_only_what_the_rule_grader_cannot_read(judge_env):
    server = judge_env("fallback", default=CORRECT)
    out = mcq_hooks.passk_results(doc(), RESPONSES)
    assert len(server.requests) == 2  # "The answer is A." and "answer: A"
    assert out["sample_acc"] == 0.75 and out["pass@4"] == 1.0
    assert out["no_answer_rate"] == 0.5  # still the rule's
    entry = out["judge"]
    assert entry["verdicts"] == ["rule", "correct", "rule", "correct"] and entry["pairs"] == [] and entry["sent"] == 2
    assert out["judge_error_rate"] == {"errors": 0, "sent": 2}
    assert out["by_modality"]["scores"]["sample_acc"] == 0.75 and "judge" not in out["by_modality"]["scores"]


def test_all_mode_scores_every_answer_by_the_judge_and_records_the_rule_pairs(judge_env):
    server = judge_env("all", default=reference_judge)
    out = mcq_hooks.passk_results(doc(), RESPONSES + ["<answer>A</answer>"] * 12)
    assert len(server.requests) == 4  # 16 samples, 4 distinct extracted answers
    assert out["sample_acc"] == 13 / 16
    entry = out["judge"]
    assert entry["distinct"] == 4 and entry["requests"] == 4 and entry["samples"] == 16 and entry["sent"] == 16
    assert entry["pairs"][:4] == [[True, True], [False, False], [False, False], [False, False]]
    assert entry["mode"] == "all" and entry["model"] == "judge" and entry["template"].startswith("judge_mcq.jinja@")
    greedy = mcq_hooks.greedy_results(doc(), ["<answer>B</answer>"])
    assert greedy["acc@1"] == 0.0 and greedy["judge"]["cache_hits"] == 1 and len(server.requests) == 4  # "B" was judged already


def test_a_question_with_a_judge_error_leaves_the_judged_metrics_and_is_counted(judge_env):
    # one request at a time, no retries: the first two distinct answers fail, the other two get verdicts
    judge_env("all", script=[("status", 500)] * 2, MEDBRIDGE_JUDGE_MAX_RETRIES="0", MEDBRIDGE_JUDGE_CONCURRENCY="1")
    out = mcq_hooks.passk_results(doc(), RESPONSES)
    assert not any(k.startswith("pass@") or k == "sample_acc" for k in out)  # excluded, not guessed
    assert out["no_answer_rate"] == 0.5
    assert out["judge_error_rate"] == {"errors": 2, "sent": 4}
    assert out["judge"]["verdicts"] == ["judge_error:http_500", "judge_error:http_500", "correct", "correct"]
    assert sorted(out["judge"]["error_kinds"]) == ["http_500"]
    # the breakdown means run over the questions that have the metric
    rows = [{"group": "CT", "scores": {"acc@1": 1.0, "no_answer_rate": 0.0}}, {"group": "CT", "scores": {"no_answer_rate": 1.0}}]
    assert mcq_hooks.breakdown(rows) == {"CT": {"n": 2, "acc@1": 1.0, "no_answer_rate": 0.5}}


def test_kappa_and_error_rates_against_the_rule_on_a_hand_computed_case(judge_env):
    rule = [1, 1, 1, 0, 0, 0, 0, 0, 1, 0]
    judge = [1, 1, 0, 0, 0, 1, 0, 0, 1, 0]
    verdict_of = {f"question {i}": CORRECT if j else INCORRECT for i, j in enumerate(judge)}

    def scripted(body):
        return verdict_of[re.search(r"question \d+", body["messages"][0]["content"]).group(0)]

    judge_env("all", default=scripted)
    items = [mcq_hooks.greedy_results(doc(f"question {i}"), [f"<answer>{'A' if r else 'B'}</answer>"]) for i, r in enumerate(rule)]
    assert [x["acc@1"] for x in items] == [float(j) for j in judge]
    summary = judge_summary([x["judge"] for x in items])
    a = summary["agreement"]
    # 3 both right, 5 both wrong, 1 judge-only, 1 rule-only: p_o = 0.8, p_e = 0.4·0.4 + 0.6·0.6 = 0.52
    assert a["counts"] == {"both_correct": 3, "judge_only_correct": 1, "rule_only_correct": 1, "both_incorrect": 5}
    assert a["raw_agreement"] == pytest.approx(0.8) and a["kappa"] == pytest.approx((0.8 - 0.52) / (1 - 0.52))
    assert a["false_positive_rate"] == pytest.approx(1 / 6) and a["false_negative_rate"] == pytest.approx(1 / 4)
    assert a["reference"] == "rule" and summary["usage"]["requests"] == 10 and summary["requests_per_question"] == 1.0
    assert error_rate([x["judge_error_rate"] for x in items]) == 0.0


def test_kappa_is_undefined_when_both_graders_give_one_grade():
    assert kappa([(True, True)] * 4) is None and kappa([]) is None
    assert kappa([(True, False), (False, True)]) == pytest.approx(-1.0)
    assert agreement([])["raw_agreement"] is None


def test_a_tasks_yaml_metadata_sets_its_mode_and_the_run_setting_overrides_it(tmp_path, monkeypatch):
    from lmms_eval.models.model_utils import usage_metrics
    from medbridge.harness.lmms import discovery

    monkeypatch.delenv("MEDBRIDGE_JUDGE_MODE", raising=False)
    yaml = tmp_path / "t.yaml"
    yaml.write_text("task: judged_by_yaml\nmetadata:\n  version: 1.0\n  judge_mode: fallback\n")
    monkeypatch.setitem(discovery.TASK_YAMLS, "judged_by_yaml", str(yaml))
    usage_metrics.set_task_context("judged_by_yaml")
    try:
        assert task_config.mcq_mode() == "fallback"
        monkeypatch.setenv("MEDBRIDGE_JUDGE_MODE", "off")
        assert task_config.mcq_mode() == "off"
    finally:
        usage_metrics.set_task_context(None)
    monkeypatch.delenv("MEDBRIDGE_JUDGE_MODE")
    assert task_config.mcq_mode("some_other_task") == "off"
    bad = tmp_path / "bad.yaml"
    bad.write_text("task: b\nmetadata: {judge_mode: everything}\n")
    with pytest.raises(ConfigError, match=r"unknown judge mode 'everything' \(metadata.judge_mode in .*bad.yaml\)"):
        task_config.mcq_mode("b", str(bad))
    monkeypatch.setenv("MEDBRIDGE_JUDGE_MODE", "fallbak")
    with pytest.raises(ConfigError, match="did you mean 'fallback'"):
        task_config.mcq_mode("b", str(yaml))
