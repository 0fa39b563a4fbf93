"""The judge and medbridge_openai against a real OpenAI-compatible server (transformers serve
with the tiny checkpoint), and one medbridge eval run in judge mode ``all`` end to end."""

import json
import os
import random

import pytest
import vqa_fixtures as fx
from conftest import run_cli, tasks_dir_path
from judge_servers import ScriptedJudge, reference_judge
from medbridge.harness.judge.cache import VerdictCache
from medbridge.harness.judge.client import JudgeClient, JudgeItem
from medbridge.harness.judge.prompts import MCQ_TEMPLATE, load_prompt
from medbridge.harness.judge.settings import JudgeSettings
from medbridge.harness.judge.verdict import judge_input

pytestmark = pytest.mark.e2e
SECRET = "sk-e2e-judge-key-93b1f0c7"


def test_a_real_server_judge_is_reached_counted_and_its_off_format_replies_are_judge_errors(served_tiny_model, tmp_path):
    from PIL import Image

    url, name = served_tiny_model
    source = load_prompt(MCQ_TEMPLATE).source
    (tmp_path / "with_image.jinja").write_text(source.replace("{% set needs_image = false %}", "{% set needs_image = true %}"))
    cache = VerdictCache(tmp_path / "judge.sqlite")
    client = JudgeClient(JudgeSettings(base_url=url, model=name, timeout=120, max_retries=1, format_retries=1, max_tokens=16), cache=cache, rng=random.Random(0))
    context = {"question": "Is there a mass?", "options": [("A", "Yes"), ("B", "No")], "reference_letter": "A", "reference_text": "Yes"}
    image = Image.new("RGB", (56, 56), (120, 30, 60))
    items = [
        JudgeItem(load_prompt(MCQ_TEMPLATE), {**context, "answer": "A"}, {"a": "A"}),
        JudgeItem(load_prompt(str(tmp_path / "with_image.jinja")), {**context, "answer": "A"}, {"a": "A"}, [image]),
    ]
    verdicts, usage = client.judge(items)
    # the tiny model's verdicts are noise and never the strict JSON: judge errors, never verdicts
    assert [v.status for v in verdicts] == ["judge_error", "judge_error"] and {v.error for v in verdicts} == {"off_format"}
    assert [v.requests for v in verdicts] == [2, 2] and usage.requests == 4 and usage.errors == 2  # each re-asked once
    text_only, with_image = verdicts
    assert text_only.prompt_tokens > 200 and with_image.prompt_tokens > text_only.prompt_tokens  # the image went in as tokens
    assert usage.completion_tokens > 0 and text_only.reply is not None
    assert cache.count() == 0  # nothing but valid verdicts is ever cached
    client.close()


def test_medbridge_openai_gets_all_k_samples_from_a_server_that_ignores_n(served_tiny_model):
    from lmms_eval.api.instance import Instance
    from medbridge.harness.backends.openai_backend import MedbridgeOpenAI
    from medbridge.harness.prompt import render_mcq_prompt
    from PIL import Image

    url, name = served_tiny_model
    prompt = render_mcq_prompt("Is this malignant?", ["malignant", "normal"])
    docs = {"t": {"test": [{"image": Image.new("RGB", (28, 28), (90, 90, 90)), "q": prompt}]}}

    def messages(doc):
        return [{"role": "user", "content": [{"type": "image", "url": doc["image"]}, {"type": "text", "text": doc["q"]}]}]

    sampled = {"temperature": 0.7, "top_p": 0.9, "max_new_tokens": 24, "until": []}
    inst = Instance("generate_until", ("ctx", messages, sampled, 0, "t", "test"), idx=0, metadata={"task": "t", "doc_id": 0, "repeats": 3})
    backend = MedbridgeOpenAI(model=name, base_url=url, cache=False, max_retries=0, timeout=120)
    backend.task_dict = docs
    out = backend.generate_until([inst] * 3)
    assert len(out) == 3 and all(r.text for r in out)
    assert all(r.text.startswith("<think>") and "</think>" in r.text for r in out)  # reasoning_content put back in front


@pytest.fixture(scope="session")
def judged_runs(served_tiny_model, tiny_model, sample_root, tmp_path_factory):
    """medbridge eval on the served tiny model (medbridge_openai) with a scripted reference judge
    in mode all: five tasks (MCQ and open, greedy and K = 4, an image-blind control), run twice
    into one cache."""
    url, name = served_tiny_model
    root = tmp_path_factory.mktemp("judged-e2e")
    tasks = root / "tasks"
    tasks.mkdir()
    for base, task in (("medmnist/medmnist_breast_passk.yaml", "breast_passk4"), ("vqa_open/vqa_rad_open_passk.yaml", "vqa_rad_open_passk4")):
        (tasks / f"{task}.yaml").write_text(
            f"include: {tasks_dir_path() / base}\ntask: {task}\nrepeats: 4\nfilter_list:\n  - name: passk\n    filter:\n      - function: take_first_k\n        k: 4\n"
        )
    env = {"MEDBRIDGE_CACHE": str(root / "cache"), "E2E_JUDGE_KEY": SECRET, "MEDBRIDGE_DATA_VQA_RAD": str(fx.vqa_rad_release(root / "vqa_rad"))}
    judge = ScriptedJudge(default=reference_judge).__enter__()
    args = ["medbridge", "eval", "--backend", "medbridge_openai", "--model", name, "--model-args", f"base_url={url},timeout=120",
            "--tasks", "medmnist_breast,breast_passk4,vqa_rad_open,vqa_rad_open_passk4,vqa_rad_noimage", "--include-path", str(tasks),
            "--data-root", str(sample_root), "--size", "28", "--limit", "2", "--gen-kwargs", "max_new_tokens=40",
            "--judge-url", judge.url, "--judge-model", "judge", "--judge-mode", "all", "--judge-key-env", "E2E_JUDGE_KEY"]  # fmt: skip
    runs = []
    for i in (1, 2):
        before = len(judge.requests)
        proc = run_cli([*args, "--output", str(root / f"out{i}")], env=env)
        runs.append({"proc": proc, "out": root / f"out{i}", "judge_requests": len(judge.requests) - before})
    judge.__exit__()
    return {"root": root, "runs": runs, "judge": judge}


def _records(out):
    return {p.stem: json.loads(p.read_text()) for p in (out / "records").glob("*.json")}


def _samples(out, task):
    (path,) = list((out / "lmms_eval").rglob(f"*_samples_{task}.jsonl"))
    return [json.loads(line) for line in path.read_text().splitlines()]


def _responses(sample) -> list[str]:
    """A sample line's completions (lmms-eval logs the K filtered ones, a greedy one as a string)."""
    got = sample.get("resps") or sample["filtered_resps"]
    got = got[0] if got and isinstance(got[0], list) else got
    return [got] if isinstance(got, str) else list(got)


def test_mode_all_end_to_end_scores_every_answer_by_the_judge(judged_runs):
    run = judged_runs["runs"][0]
    assert run["proc"].returncode == 0, run["proc"].stderr[-3000:]
    records = _records(run["out"])
    assert set(records) == {"medmnist_breast", "breast_passk4", "vqa_rad_open", "vqa_rad_open_passk4", "vqa_rad_noimage"}
    for task, record in records.items():
        judge = record["judge"]
        assert judge["mode"] == "all" and judge["model"] == "judge" and judge["error_rate"] == 0.0 and judge["api_key_env"] == "E2E_JUDGE_KEY"
        usage = judge["usage"]  # an answer judged for an earlier task of the run is a cache hit here
        assert usage["requests"] + usage["cache_hits"] == judge["distinct_answers_judged"] > 0 and usage["prompt_tokens"] == 100 * usage["requests"]
        assert record["metrics"]["judge_error_rate"]["value"] == 0.0
        samples = _samples(run["out"], task)
        k = 4 if task.endswith("passk4") else 1
        assert len(samples) == 2 and all(len(_responses(s)) == k for s in samples)
        # the verdicts are the reference judge's on each sample's extracted answer (deduplicated)
        correct, judged_some = [], False
        for s in samples:
            answers = [judge_input(r) for r in _responses(s)]
            expected = ["empty" if not a else "correct" if a.casefold().rstrip(".") == str(s["target"]).casefold() else "incorrect" for a in answers]
            assert s["judge"]["verdicts"] == expected
            correct.append([e == "correct" for e in expected])
            judged_some = judged_some or any(e != "empty" for e in expected)
        metric = "acc@1" if k == 1 else "sample_acc"
        assert record["metrics"][metric]["value"] == pytest.approx(sum(sum(c) / k for c in correct) / 2)
        assert judged_some, f"{task}: no sample reached the judge"
        agreement = judge["agreement"]
        assert agreement["n"] == judge["samples_sent"] > 0 and agreement["reference"] == ("exact_match" if "open" in task else "rule")
        assert {"exact_match", "token_f1"} <= set(record["metrics"]) if "open" in task else "exact_match" not in record["metrics"]
    assert "medbridge: judge judge (all) on 5 task(s)" in run["proc"].stderr
    # the image-blind control asked the same questions as its MCQ task would, with no image
    assert records["vqa_rad_noimage"]["n_docs"] == 2 and records["vqa_rad_noimage"]["data"]["mcq"] == 2


def test_a_rerun_asks_the_judge_nothing_and_gives_the_same_numbers(judged_runs):
    first, second = judged_runs["runs"]
    assert first["judge_requests"] > 0 and second["judge_requests"] == 0
    assert second["proc"].returncode == 0, second["proc"].stderr[-3000:]
    a, b = _records(first["out"]), _records(second["out"])
    for task in a:
        assert a[task]["metrics"] == b[task]["metrics"]
        assert b[task]["judge"]["usage"]["requests"] == 0 and b[task]["judge"]["usage"]["cache_hits"] == a[task]["judge"]["distinct_answers_judged"]


def test_the_api_key_reaches_the_judge_and_appears_in_no_log_record_sample_or_cache(judged_runs):
    assert judged_runs["judge"].headers and all(h["authorization"] == f"Bearer {SECRET}" for h in judged_runs["judge"].headers)
    checked = 0
    for folder, _, files in os.walk(judged_runs["root"]):
        for name in files:
            with open(os.path.join(folder, name), "rb") as f:
                data = f.read()
            assert SECRET.encode() not in data, os.path.join(folder, name)
            checked += 1
    for run in judged_runs["runs"]:
        assert SECRET not in run["proc"].stdout + run["proc"].stderr
    assert checked > 10  # records, samples, results, judge.sqlite (+ WAL), samples.sqlite
    assert any(n.startswith("judge.sqlite") for n in os.listdir(judged_runs["root"] / "cache"))
