"""Plain `lmms-eval` and `medbridge eval` grade the same raw response, with the grader the RL
reward uses. lmms-eval's CLI strips <think>…</think> by default (`--reasoning_tags`) before
filters and process_results; `medbridge eval` calls its Python API with none. Here both runs go
through lmms-eval's own scoring step on the real tasks built from our YAMLs."""

import sys

import pytest
from medbridge.harness.answers import grade

RESPONSES = [
    "<think>It is <answer>B</answer></think>",
    "<think>d</think><answer>A</answer> <think><answer>B</answer></think>",
    "<think>x</think><answer>B</answer>",
    "<analysis>A</analysis><answer>B</answer>",
    "prefilled reasoning <answer>B</answer></think><answer>A</answer>",
]


@pytest.fixture(scope="module")
def built_tasks(sample_root):
    from lmms_eval.tasks import get_task_dict
    from medbridge.harness.lmms.task_index import task_manager

    mp = pytest.MonkeyPatch()
    mp.setenv("MEDMNIST_ROOT", str(sample_root))
    mp.setenv("MEDMNIST_SIZE", "28")
    try:
        tasks = get_task_dict(["medmnist_breast", "medmnist_breast_passk"], task_manager())
    finally:
        mp.undo()
    return tasks


def _cli_default_reasoning_tags(monkeypatch) -> str:
    from lmms_eval.__main__ import parse_eval_args

    monkeypatch.setattr(sys, "argv", ["lmms-eval"])
    _, args = parse_eval_args()
    return args.reasoning_tags


def _score(task, responses: list[str], cli_reasoning_tags):
    """lmms-eval's own post-processing of one document: filters, reasoning-tag stripping, process_results."""
    from lmms_eval.api.instance import Instance
    from lmms_eval.api.reasoning import parse_reasoning_tags_config
    from lmms_eval.evaluator import _process_document_results

    doc = task.eval_docs_no_media[0]
    inst = Instance("generate_until", arguments=("ctx",), idx=0, metadata={"task": task.config.task, "doc_id": 0, "repeats": len(responses)})
    inst.resps = list(responses)
    task._instances = [inst]
    task.apply_filters()
    filter_key = next(iter(inst.filtered_resps))
    tags = parse_reasoning_tags_config(cli_value=cli_reasoning_tags, task_value=task.config.reasoning_tags)
    out = _process_document_results((0, doc, [inst]), task=task, filter_key=filter_key, reasoning_tags=tags, log_samples=False)
    return doc, out.metrics


@pytest.mark.parametrize("response", RESPONSES)
def test_plain_lmms_eval_and_medbridge_eval_grade_the_same_raw_response(built_tasks, monkeypatch, response):
    cli_default = _cli_default_reasoning_tags(monkeypatch)
    assert "<think>" in cli_default  # what plain `lmms-eval` passes unless told otherwise
    task = built_tasks["medmnist_breast"]
    doc, plain = _score(task, [response], cli_default)
    _, ours = _score(task, [response], None)  # medbridge eval: simple_evaluate without cli_args
    expected = grade(response, list(doc["options"]), doc["answer"])
    assert plain == ours
    assert plain["acc@1"] == float(expected.correct) and plain["no_answer_rate"] == float(expected.parsed.letter is None)


def test_passk_tasks_grade_every_raw_sample_the_same_way_too(built_tasks, monkeypatch):
    task = built_tasks["medmnist_breast_passk"]
    samples = (RESPONSES * 4)[:16]
    task.config.repeats = len(samples)
    doc, plain = _score(task, samples, _cli_default_reasoning_tags(monkeypatch))
    _, ours = _score(task, samples, None)
    assert plain == ours
    correct = sum(grade(r, list(doc["options"]), doc["answer"]).correct for r in samples)
    assert plain["sample_acc"] == correct / len(samples)
