"""`repeats` is the one Pass@K knob: a task that includes the Pass@K base with any n gets all n
samples graded and pass@k for every power of two k <= n, plus n; bad settings are refused
before the model loads; no malformed record is ever written."""

import json
import re
from pathlib import Path

import pytest
from conftest import REPO, tasks_dir_path
from medbridge.harness.cli import main
from medbridge.harness.errors import ConfigError
from medbridge.harness.metrics import pass_ks


def _user_yaml(folder: Path, name: str, body: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.yaml"
    path.write_text(body)
    return path


def _passk_yaml(folder: Path, name: str, extra: str) -> Path:
    tasks = tasks_dir_path()
    return _user_yaml(folder, name, f"include: [{tasks / '_mcq_passk.yaml'}, {tasks / 'medmnist' / 'medmnist_breast.yaml'}]\ntask: {name}\n{extra}")


def _config(path: Path):
    from medbridge.harness.lmms.task_index import task_config

    return task_config(str(path))


def _metric_names(config) -> list[str]:
    return [m["metric"] for m in config.metric_list]


def test_reported_k_are_the_powers_of_two_up_to_n_and_n():
    assert pass_ks(1) == (1,)
    assert pass_ks(8) == (1, 2, 4, 8)
    assert pass_ks(12) == (1, 2, 4, 8, 12)
    assert pass_ks(16) == (1, 2, 4, 8, 16)
    with pytest.raises(ValueError):
        pass_ks(0)


@pytest.mark.parametrize("n,ks", [(8, (1, 2, 4, 8)), (12, (1, 2, 4, 8, 12)), (3, (1, 2, 3)), (16, (1, 2, 4, 8, 16))])
def test_metric_list_follows_repeats(tmp_path, n, ks):
    config = _config(_passk_yaml(tmp_path, f"breast_pass{n}", f"repeats: {n}\n"))
    assert config.repeats == n
    assert [m for m in _metric_names(config) if m.startswith("pass@")] == [f"pass@{k}" for k in ks]
    assert {"sample_acc", "no_answer_rate"} <= set(_metric_names(config))


def test_process_results_takes_all_n_samples_and_returns_exactly_the_listed_metrics(tmp_path):
    config = _config(_passk_yaml(tmp_path, "breast_pass8", "repeats: 8\n"))
    doc = {"options": ["x", "y"], "answer": "B", "source": "medmnist", "modality": "radiology", "meta": "{}"}
    samples = ["<answer>B</answer>"] * 3 + ["<answer>A</answer>"] * 5
    scores = config.process_results(doc, samples)
    # no breakdown for MedMNIST; judge metrics only when a judge scores the task
    assert set(scores) == set(_metric_names(config)) - {"by_modality", "by_question_type", "judge_error_rate", "judge"}
    assert scores["sample_acc"] == 3 / 8 and scores["pass@8"] == 1.0
    assert scores["pass@2"] == pytest.approx(1 - (5 * 4) / (8 * 7))
    with pytest.raises(ConfigError, match="got 7 samples for a question of task breast_pass8, which sets repeats: 8"):
        config.process_results(doc, samples[:7])


def test_open_ended_passk_tasks_follow_repeats_too(tmp_path):
    base = tasks_dir_path() / "vqa_open"
    path = _user_yaml(tmp_path, "slake_open_pass4", f"include: [{base / '_open_passk.yaml'}, {base / 'slake_open.yaml'}]\ntask: slake_open_pass4\nrepeats: 4\n")
    config = _config(path)
    assert [m for m in _metric_names(config) if m.startswith("pass@")] == ["pass@1", "pass@2", "pass@4"]
    assert repr(config.process_results) == "medbridge.harness.lmms.open_hooks.passk_results(n=4)"


def test_a_metric_dropped_from_metric_list_is_not_returned(tmp_path):
    base = tasks_dir_path() / "medmnist" / "medmnist_breast.yaml"
    path = _user_yaml(tmp_path, "breast_acc_only", f"include: {base}\ntask: breast_acc_only\nmetric_list:\n  - metric: acc@1\n    aggregation: mean\n    higher_is_better: true\n")
    config = _config(path)
    doc = {"options": ["x", "y"], "answer": "B", "source": "medmnist", "modality": "radiology", "meta": "{}"}
    assert config.process_results(doc, ["<answer>B</answer>"]) == {"acc@1": 1.0}  # no stray no_answer_rate -> no "value": []


@pytest.mark.parametrize(
    "extra,message",
    [
        ("repeats: 0\n", "repeats must be a whole number >= 1, got 0"),
        ("repeats: '8'\n", "repeats must be a whole number >= 1, got '8'"),
        ("repeats: 8\nfilter_list:\n  - name: passk\n    filter:\n      - function: take_first_k\n        k: 16\n",
         "filter take_first_k with k=16 does not match repeats: 8"),
        ("repeats: 8\nfilter_list:\n  - name: passk\n    filter:\n      - function: take_first\n", "filter take_first hands one sample per question to a Pass@K task"),
    ],
)
def test_bad_passk_settings_are_refused_naming_the_file(tmp_path, extra, message):
    path = _passk_yaml(tmp_path, "bad_passk", extra)
    with pytest.raises(ConfigError, match=re.escape(message)) as err:
        _config(path)
    assert str(path) in str(err.value)


def test_repeats_on_a_greedy_task_is_refused(tmp_path):
    base = tasks_dir_path() / "medmnist" / "medmnist_breast.yaml"
    path = _user_yaml(tmp_path, "greedy4", f"include: {base}\ntask: greedy4\nrepeats: 4\n")
    with pytest.raises(ConfigError, match="repeats: 4 on a greedy task") as err:
        _config(path)
    assert "_mcq_passk.yaml" in str(err.value)


def test_bad_repeats_stops_medbridge_eval_before_the_model_loads(capsys, tmp_path, tiny_model, sample_root, monkeypatch):
    import lmms_eval.evaluator

    folder = tmp_path / "tasks"
    path = _passk_yaml(folder, "bad_passk", "repeats: -2\n")
    monkeypatch.setattr(lmms_eval.evaluator, "simple_evaluate", lambda *a, **k: pytest.fail("lmms-eval was started"))
    rc = main(["eval", "--model", str(tiny_model), "--tasks", "bad_passk", "--output", str(tmp_path / "o"),
               "--include-path", str(folder), "--data-root", str(sample_root), "--size", "28"])
    err = capsys.readouterr().err
    assert rc == 2 and "repeats must be a whole number >= 1, got -2" in err and str(path) in err
    assert not (tmp_path / "o").exists()


def _contributing_example() -> str:
    """The Pass@K example YAML exactly as CONTRIBUTING.md shows it."""
    text = (REPO / "CONTRIBUTING.md").read_text()
    blocks = re.findall(r"```yaml\n(.*?)```", text, re.DOTALL)
    found = [b for b in blocks if "repeats: 8" in b]
    assert len(found) == 1, "CONTRIBUTING.md must show one Pass@K example with repeats: 8"
    return found[0]


@pytest.mark.e2e
def test_the_contributing_example_with_repeats_8_runs_as_one_yaml(capsys, tmp_path, tiny_model, sample_root):
    example = _contributing_example()
    # the example lives in tasks/medmnist/; from another folder its includes become absolute (as CONTRIBUTING says)
    medmnist_dir = tasks_dir_path() / "medmnist"
    example = re.sub(r"include: \[(.*?)\]", lambda m: "include: [" + ", ".join(str((medmnist_dir / p.strip()).resolve()) for p in m.group(1).split(",")) + "]", example)
    name = re.search(r"^task: (\S+)", example, re.MULTILINE).group(1)
    folder = tmp_path / "tasks"
    _user_yaml(folder, name, example)
    out = tmp_path / "out"
    rc = main(["eval", "--model", str(tiny_model), "--tasks", name, "--output", str(out), "--include-path", str(folder),
               "--data-root", str(sample_root), "--size", "28", "--gen-kwargs", "max_new_tokens=24", "--batch-size", "8"])
    captured = capsys.readouterr()
    assert rc == 0, captured.err[-3000:]
    record = json.loads((out / "records" / f"{name}.json").read_text())
    assert record["generation"]["n"] == 8 and record["n_samples"] == 8 * record["n_docs"]
    assert set(record["metrics"]) == {"pass@1", "pass@2", "pass@4", "pass@8", "sample_acc", "no_answer_rate"}
    assert all(isinstance(m["value"], float) for m in record["metrics"].values())
    assert record["metrics"]["pass@1"]["value"] == pytest.approx(record["metrics"]["sample_acc"]["value"])
    results_text = next((out / "lmms_eval").rglob("*_results.json")).read_text()
    assert "NaN" not in results_text and "pass@16" not in results_text
    samples = [json.loads(line) for line in next((out / "lmms_eval").rglob(f"*_samples_{name}.jsonl")).read_text().splitlines()]
    assert all(len(s.get("resps", s["filtered_resps"])) == 8 for s in samples)  # lmms-eval drops resps equal to filtered_resps
    assert f"{name}" in captured.out and "pass@8=" in captured.out  # the summary line


@pytest.mark.e2e
def test_a_metric_with_no_aggregate_fails_the_run_and_writes_no_record(capsys, tmp_path, tiny_model, sample_root):
    """A user's own process_results returning a key metric_list lacks: lmms-eval reports it as
    `"extra,none": []`; medbridge eval refuses it instead of writing a record that cannot be read."""
    folder = tmp_path / "tasks"
    folder.mkdir()
    (folder / "my_hooks.py").write_text("def results(doc, results):\n    return {'acc@1': 1.0, 'extra': 0.5}\n")
    base = tasks_dir_path() / "medmnist" / "medmnist_breast.yaml"
    _user_yaml(folder, "breast_extra", f"include: {base}\ntask: breast_extra\nprocess_results: !function my_hooks.results\n"
               "metric_list:\n  - metric: acc@1\n    aggregation: mean\n    higher_is_better: true\n")
    out = tmp_path / "out"
    rc = main(["eval", "--model", str(tiny_model), "--tasks", "breast_extra", "--output", str(out), "--include-path", str(folder),
               "--data-root", str(sample_root), "--size", "28", "--gen-kwargs", "max_new_tokens=4", "--limit", "2"])
    err = capsys.readouterr().err
    assert rc == 2 and "breast_extra: metric 'extra' has no aggregate value" in err and "metric_list" in err
    assert not (out / "records").exists()
