"""Judge client against a scripted loopback server: strict verdicts, retries and backoff,
timeouts, dropped connections, malformed bodies, caching, deduplication, concurrency."""

import random
import time

import pytest
from judge_servers import CORRECT, INCORRECT, ScriptedJudge
from medbridge.harness.errors import ConfigError
from medbridge.harness.judge.cache import VerdictCache
from medbridge.harness.judge.client import JudgeClient, JudgeItem, backoff_delay
from medbridge.harness.judge.prompts import MCQ_TEMPLATE, load_prompt
from medbridge.harness.judge.settings import JudgeSettings, from_env, public_url
from medbridge.harness.judge.verdict import judge_input, parse_verdict
from PIL import Image

CONTEXT = {"question": "Is there a mass?", "options": [("A", "Yes"), ("B", "No")], "reference_letter": "A", "reference_text": "Yes"}
WORDY = [
    "Step 1: compare the answer with the reference. Step 2: they differ. Verdict: 0",
    "No, it is not correct",
    "Score: 0. The reference says the lesion measures 10 mm.",
    "correct",
    "1",
    '{"verdict": "Correct"}',
    '{"verdict": 1}',
    '{"verdict": true}',
    '{"verdict": "correct", "reason": "same option"}',
    'Sure! {"verdict": "correct"}',
    '{"verdict": "correct"} I am confident.',
    '[{"verdict": "correct"}]',
    '```json\n{"verdict": "correct"}\n``` (the candidate is right)',
    "",
]


def item(answer="A", template=MCQ_TEMPLATE, images=()):
    return JudgeItem(load_prompt(template), {**CONTEXT, "answer": answer}, {"question": CONTEXT["question"], "answer": answer.casefold()}, list(images))


def client(server, cache=False, **kw):
    settings = {"base_url": server.url, "model": "judge", "timeout": 2.0, "backoff": 0.001, "max_retries": 4, "format_retries": 1, **kw}
    sleeps = []
    c = JudgeClient(JudgeSettings(**settings), cache=cache, sleep=sleeps.append, rng=random.Random(0))
    c.sleeps = sleeps
    return c


def test_only_the_exact_json_verdict_is_read_and_wordy_replies_never_become_correct():
    assert parse_verdict('{"verdict": "correct"}') == "correct"
    assert parse_verdict(' {"verdict":"incorrect"}\n') == "incorrect"
    assert parse_verdict('```json\n{"verdict": "incorrect"}\n```') == "incorrect"  # one fence, nothing else
    for reply in WORDY:
        assert parse_verdict(reply) is None, reply


def test_off_format_replies_are_judge_errors_after_one_reminder():
    with ScriptedJudge() as server:
        c = client(server)
        for reply in WORDY:
            server.script = [reply, reply]
            verdicts, _ = c.judge([item(f"answer for {reply[:20]}")])
            assert verdicts[0].status == "judge_error" and verdicts[0].error == "off_format", reply
            assert verdicts[0].requests == 2 and verdicts[0].reply == reply[:200]
    reminder = server.requests[1]["messages"]
    assert [m["role"] for m in reminder] == ["user", "assistant", "user"] and "exactly one JSON object" in reminder[2]["content"]


def test_transport_failures_are_retried_with_backoff_and_every_attempt_is_counted():
    script = [("status", 500), ("drop",), ("malformed",), ("slow", 1.0, CORRECT), ("status", 503)]
    with ScriptedJudge(script, default=INCORRECT) as server:
        c = client(server, timeout=0.3, max_retries=5, backoff=0.5)
        verdicts, usage = c.judge([item()])
    assert verdicts[0].status == "incorrect" and verdicts[0].requests == 6
    assert usage.requests == 6 and usage.prompt_tokens == 100 and usage.completion_tokens == 7  # only the answered request reports usage
    assert len(c.sleeps) == 5
    for retry, delay in enumerate(c.sleeps):
        assert 0.5 * 0.5 * 2**retry <= delay < 0.5 * 2**retry


def test_backoff_is_exponential_with_bounded_jitter_and_capped():
    rng = random.Random(1)
    for retry in range(12):
        step = min(30.0, 2.0 * 2**retry)
        for _ in range(50):
            assert 0.5 * step <= backoff_delay(retry, 2.0, 30.0, rng) < step


@pytest.mark.parametrize(
    "script,kind",
    [([("status", 500)] * 3, "http_500"), ([("drop",)] * 3, "connection"), ([("malformed",)] * 3, "malformed_response"), ([("slow", 1.0, CORRECT)] * 3, "timeout")],
)
def test_exhausted_retries_end_as_a_counted_judge_error(script, kind):
    with ScriptedJudge(script) as server:
        c = client(server, timeout=0.3, max_retries=2)
        verdicts, usage = c.judge([item()])
    assert verdicts[0].status == "judge_error" and verdicts[0].error == kind
    assert verdicts[0].requests == 3 and usage.errors == 1 and len(c.sleeps) == 2


def test_client_errors_other_than_rate_limits_are_not_retried():
    with ScriptedJudge([("status", 401)], default=CORRECT) as server:
        c = client(server)
        verdicts, _ = c.judge([item()])
    assert verdicts[0].error == "http_401" and verdicts[0].requests == 1 and not c.sleeps
    with ScriptedJudge([("status", 429)], default=CORRECT) as server:
        verdicts, _ = client(server).judge([item()])
    assert verdicts[0].status == "correct" and verdicts[0].requests == 2


def test_an_unreachable_judge_is_a_judge_error_not_an_exception():
    c = JudgeClient(JudgeSettings(base_url="http://127.0.0.1:9/v1", model="judge", timeout=1, max_retries=2), cache=False, sleep=lambda s: None)
    verdicts, usage = c.judge([item()])
    assert verdicts[0].error == "connection" and verdicts[0].requests == 3 and usage.errors == 1


def test_identical_answers_are_judged_once_and_a_rerun_asks_nothing(tmp_path):
    answers = ["A", "a", " A ", "B", "b", "Yes"] * 3 + ["A"]  # 19 samples, 3 distinct after case/space folding
    items = [item(" ".join(a.split())) for a in answers]
    with ScriptedJudge(default=lambda body: CORRECT if "<<<\nA\n>>>" in body["messages"][0]["content"] else INCORRECT) as server:
        first = client(server, cache=VerdictCache(tmp_path / "judge.sqlite"))
        verdicts, usage = first.judge(items)
        assert len(server.requests) == 3 and usage.judged == 3 and usage.requests == 3
        assert [v.status for v in verdicts[:6]] == ["correct", "correct", "correct", "incorrect", "incorrect", "incorrect"]
        first.close()
        again = client(server, cache=VerdictCache(tmp_path / "judge.sqlite"))
        verdicts2, usage2 = again.judge(items)
        assert len(server.requests) == 3 and usage2.requests == 0 and usage2.cache_hits == 3
        assert [v.status for v in verdicts2] == [v.status for v in verdicts]
        other_model = client(server, cache=VerdictCache(tmp_path / "judge.sqlite"), model="judge-2")
        other_model.judge(items)
        assert len(server.requests) == 6  # another judge never reuses a verdict


def test_judge_errors_are_not_cached_so_a_rerun_asks_again(tmp_path):
    with ScriptedJudge([("status", 500)] * 2, default=CORRECT) as server:
        first = client(server, cache=VerdictCache(tmp_path / "j.sqlite"), max_retries=1)
        assert first.judge([item()])[0][0].error == "http_500"
        assert first.cache.count() == 0
        assert first.judge([item()])[0][0].status == "correct" and first.cache.count() == 1


def test_requests_in_flight_never_exceed_the_concurrency_limit():
    with ScriptedJudge(default=("slow", 0.15, CORRECT)) as server:
        c = client(server, concurrency=2)
        start = time.monotonic()
        verdicts, usage = c.judge([item(f"answer {i}") for i in range(6)])
        elapsed = time.monotonic() - start
    assert all(v.status == "correct" for v in verdicts) and usage.requests == 6
    assert server.max_in_flight == 2 and elapsed >= 3 * 0.15


def test_images_are_sent_only_when_the_template_asks_for_them(tmp_path):
    template = tmp_path / "judge_with_image.jinja"
    template.write_text("{% set needs_image = true %}Look at the image. {{ question }} Candidate: {{ answer }}. Reply {\"verdict\": ...}")
    image = Image.new("RGB", (8, 8), (200, 10, 10))
    with ScriptedJudge() as server:
        c = client(server)
        c.judge([item(images=[image]), item("B", template=str(template), images=[image])])
    # the two items go out concurrently: tell them apart by their content, not their order
    text_only, with_image = sorted(server.requests, key=lambda body: isinstance(body["messages"][0]["content"], list))
    assert isinstance(text_only["messages"][0]["content"], str)
    parts = with_image["messages"][0]["content"]
    assert parts[0]["type"] == "image_url" and parts[0]["image_url"]["url"].startswith("data:image/png;base64,") and parts[1]["type"] == "text"
    assert text_only["temperature"] == 0.0 and text_only["max_tokens"] == 32 and "response_format" not in text_only


def test_structured_mode_asks_for_the_verdict_json_schema():
    with ScriptedJudge() as server:
        client(server, structured=True).judge([item()])
    schema = server.requests[0]["response_format"]["json_schema"]["schema"]
    assert schema["properties"]["verdict"]["enum"] == ["correct", "incorrect"] and schema["additionalProperties"] is False


def test_the_api_key_comes_from_the_named_variable_and_goes_only_to_the_server(tmp_path, monkeypatch):
    monkeypatch.setenv("MY_JUDGE_KEY", "sk-secret-4711")
    with ScriptedJudge() as server:
        c = client(server, cache=VerdictCache(tmp_path / "j.sqlite"), api_key_env="MY_JUDGE_KEY")
        c.judge([item()])
        c.close()
    assert server.headers[0]["authorization"] == "Bearer sk-secret-4711"
    assert "sk-secret-4711" not in str(c.settings.public())
    for path in tmp_path.iterdir():
        assert b"sk-secret-4711" not in path.read_bytes()


def test_settings_come_from_the_environment_and_bad_values_say_which_variable(monkeypatch):
    monkeypatch.setenv("MEDBRIDGE_JUDGE_BASE_URL", "http://user:pw@judge.local:8000/v1?x=1")
    monkeypatch.setenv("MEDBRIDGE_JUDGE_MODEL", "Qwen/Qwen2.5-VL-32B-Instruct")
    monkeypatch.setenv("MEDBRIDGE_JUDGE_CONCURRENCY", "3")
    settings = from_env()
    assert settings.configured and settings.concurrency == 3 and settings.api_key() == "EMPTY"  # dummy key for local servers
    assert public_url(settings.base_url) == "http://judge.local:8000/v1"
    monkeypatch.setenv("MEDBRIDGE_JUDGE_API_KEY_ENV", "MISSING_KEY_VAR")
    with pytest.raises(ConfigError, match="names MISSING_KEY_VAR, which is not set"):
        from_env().api_key()
    monkeypatch.setenv("MEDBRIDGE_JUDGE_TIMEOUT", "soon")
    with pytest.raises(ConfigError, match="MEDBRIDGE_JUDGE_TIMEOUT='soon' is not a number"):
        from_env()
    with pytest.raises(ConfigError, match="MEDBRIDGE_JUDGE_BASE_URL and MEDBRIDGE_JUDGE_MODEL is not set"):
        JudgeSettings().require("judge mode 'all'")


def test_the_judge_sees_the_extracted_answer_not_the_reasoning():
    assert judge_input("<think>maybe A? no.</think><answer> B. No </answer>") == "B. No"
    assert judge_input("<think>long reasoning</think>So the answer is B") == "So the answer is B"
    assert judge_input("<answer>A</answer> wait <answer>B") == "B"  # the grader's rule: the last tag, unclosed runs to the end
    assert judge_input("<think>unfinished") == "" and judge_input(None) == ""
