"""The judge in records, run summaries, the error-rate limit, calibration tables and pages."""

import pytest
from lb_records import measured
from medbridge.harness.errors import RecordError
from medbridge.harness.judge.report import JudgeErrorRateExceeded, calibration_table, check_error_rates, judge_summary_line
from medbridge.harness.leaderboard.cells import fmt_cell, metric_cell
from medbridge.harness.leaderboard.store import settings_key
from medbridge.harness.records import build_records, validate_record


def judge_block(model="Qwen/Qwen2.5-VL-32B-Instruct", error_rate=0.0, sent=100, limit=0.05, kind="timeout"):
    errors = round(error_rate * sent)
    return {
        "mode": "all", "model": model, "template": "judge_mcq.jinja@0123456789ab", "base_url": "http://judge:8000/v1", "api_key_env": "MEDBRIDGE_JUDGE_API_KEY",
        "questions": 50, "questions_excluded": errors, "error_rate": error_rate, "error_kinds": {kind: errors} if errors else {}, "max_error_rate": limit,
        "usage": {"requests": 40, "prompt_tokens": 4000, "completion_tokens": 280, "cache_hits": 10}, "samples": sent, "samples_sent": sent,
        "samples_without_verdict": errors, "distinct_answers_judged": 50, "requests_per_question": 0.8,
        "agreement": {"reference": "rule", "n": 90, "counts": {"both_correct": 40, "judge_only_correct": 3, "rule_only_correct": 2, "both_incorrect": 45},
                      "raw_agreement": 85 / 90, "kappa": 0.888, "false_positive_rate": 3 / 48, "false_negative_rate": 2 / 42},
        "off_format_replies": [],
    }  # fmt: skip


def results_with(judge):
    task_results = {"alias": "t", "acc@1,none": 0.5, "acc@1_stderr,none": 0.1, "no_answer_rate,none": 0.0, "no_answer_rate_stderr,none": 0.0}
    if judge is not None:
        task_results.update({"judge,none": judge, "judge_stderr,none": "N/A", "judge_error_rate,none": judge["error_rate"], "judge_error_rate_stderr,none": "N/A"})
    return {"configs": {"t": {"repeats": 1, "generation_kwargs": {}, "metadata": {"version": 1.0}, "test_split": "paper"}}, "results": {"t": task_results},
            "n-samples": {"t": {"effective": 10, "original": 10}}}  # fmt: skip


def test_every_record_says_who_judged_it_and_how_often_the_judge_failed():
    judged = build_records(results_with(judge_block(error_rate=0.02)), model="m", fingerprint="f", backend="b", model_args="", data={})[0]
    assert judged["judge"]["model"] == "Qwen/Qwen2.5-VL-32B-Instruct" and judged["judge"]["mode"] == "all"
    assert judged["metrics"]["judge_error_rate"]["value"] == 0.02 and "judge" not in judged["metrics"] and "judge" not in judged["breakdown"]
    validate_record(judged, "judged")
    plain = build_records(results_with(None), model="m", fingerprint="f", backend="b", model_args="", data={})[0]
    assert plain["judge"] == {"mode": "off", "model": None}
    validate_record(plain, "plain")
    broken = {**judged, "judge": {**judged["judge"], "model": None}}
    with pytest.raises(RecordError, match="needs judge.model"):
        validate_record(broken, "broken.json")


def record(task, block):
    r = measured("M", task, {"acc@1": [1.0, 0.0], "no_answer_rate": [0.0, 0.0]})
    r["judge"] = block
    return r


def test_the_run_fails_with_one_line_when_a_task_passes_the_error_limit():
    ok, bad = record("pmc_vqa", judge_block(error_rate=0.01)), record("slake_open", judge_block(error_rate=0.12, kind="off_format"))
    check_error_rates([ok])
    with pytest.raises(JudgeErrorRateExceeded, match=r"above the 5% limit on slake_open 12.0% \(off_format ×12\)") as err:
        check_error_rates([ok, bad])
    assert "\n" not in str(err.value)
    line = judge_summary_line([ok, bad, record("x", {"mode": "off", "model": None})])
    assert line == ("medbridge: judge Qwen/Qwen2.5-VL-32B-Instruct (all) on 2 task(s): 80 requests (20 cached verdicts), 8,000 prompt + 560 completion tokens; "
                    "13 of 200 judged samples without a verdict (6.5%)")  # fmt: skip
    assert judge_summary_line([record("x", {"mode": "off", "model": None})]) is None


def test_calibration_table_shows_agreement_kappa_and_error_rates():
    table = calibration_table([record("pmc_vqa", judge_block())])
    header, row = table.splitlines()
    assert header.split()[:6] == ["task", "judge", "vs", "pairs", "agree", "kappa"]
    assert row.split() == ["pmc_vqa", "Qwen/Qwen2.5-VL-32B-Instruct", "rule", "90", "94.4%", "0.888", "6.2%", "4.8%", "3", "2", "0.0%", "0.80"]


def test_pages_name_the_judge_of_every_judged_number():
    r = record("pmc_vqa", judge_block(error_rate=0.004, sent=1000))
    acc = fmt_cell(metric_cell(r, "acc@1"))
    assert acc.endswith("<br><sub>judged by Qwen/Qwen2.5-VL-32B-Instruct (all), 0.4% without verdict</sub>")
    assert "judged" not in fmt_cell(metric_cell(r, "no_answer_rate"))
    plain = record("pmc_vqa", {"mode": "off", "model": None})
    assert "judged" not in fmt_cell(metric_cell(plain, "acc@1"))


def test_another_judge_is_another_setting_but_unjudged_records_keep_their_key():
    plain = measured("M", "pmc_vqa", {"acc@1": [1.0]})
    assert settings_key(plain) == settings_key({**plain, "judge": {"mode": "off", "model": None}})
    a, b = record("pmc_vqa", judge_block()), record("pmc_vqa", judge_block(model="gpt-4o-mini"))
    assert len({settings_key(plain), settings_key(a), settings_key(b)}) == 3
