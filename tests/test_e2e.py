"""Real end-to-end runs on the tiny offline checkpoint and the generated MedMNIST sample."""

import json
from pathlib import Path

import pytest
from conftest import run_cli, tasks_dir_path
from medbridge.harness.answers import grade
from medbridge.harness.metrics import PASS_KS, pass_at_k, weighted_mean
from medbridge.harness.sources import medmnist

pytestmark = pytest.mark.e2e


def _only(pattern: str, folder: Path) -> Path:
    found = sorted(folder.rglob(pattern))
    assert len(found) == 1, f"expected one {pattern} under {folder}, found {found}"
    return found[0]


def _responses(sample: dict) -> list[str]:
    """All K raw responses of a sample line (lmms-eval drops ``resps`` when it equals
    ``filtered_resps``, which it does for our tasks: they grade the raw text)."""
    return sample.get("resps", sample["filtered_resps"])


def test_lmms_eval_finds_our_tasks_with_no_flag_and_pass_at_k_matches_the_samples(tmp_path, tiny_model, sample_root):
    out = tmp_path / "out"
    env = {"MEDMNIST_ROOT": str(sample_root), "MEDMNIST_SIZE": "28"}
    proc = run_cli(
        ["lmms-eval", "--model", "qwen2_5_vl", "--model_args", f"pretrained={tiny_model},device_map=cpu", "--device", "cpu",
         "--tasks", "medmnist_radiology_passk,medmnist_breast", "--limit", "4", "--batch_size", "16",
         "--gen_kwargs", "max_new_tokens=24", "--output_path", str(out), "--log_samples"],
        env=env,
    )
    results_file = list(out.rglob("*_results.json"))
    assert results_file, f"lmms-eval wrote no results (it exits 0 on failure):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    results = json.loads(results_file[0].read_text())
    sizes, values = [], {k: [] for k in PASS_KS}
    for name in ("breast", "chest", "pneumonia", "organa", "organc", "organs"):
        task = f"medmnist_{name}_passk"
        row = results["results"][task]
        docs = {i: d for i, d in enumerate(medmnist.load_docs(name, root=sample_root, size=28))}
        samples = [json.loads(line) for line in _only(f"*_samples_{task}.jsonl", out).read_text().splitlines()]
        assert len(samples) == 4 and all(len(_responses(s)) == 16 for s in samples)
        for k in PASS_KS:
            expected = []
            for s in samples:
                doc = docs[s["doc_id"]]
                assert s["target"] == doc.answer
                c = sum(grade(r, doc.options, doc.answer).correct for r in _responses(s))
                expected.append(pass_at_k(16, c, k))
            assert row[f"pass@{k},passk"] == pytest.approx(sum(expected) / len(expected), abs=1e-9)
            values[k].append(row[f"pass@{k},passk"])
        sizes.append(4)
    # the tiny model follows the answer format, so these are real, non-degenerate numbers
    assert 0 < values[16][0] and values[1][0] <= values[16][0]
    group = results["results"]["medmnist_radiology_passk"]
    assert group["pass@16,passk"] == pytest.approx(weighted_mean(values[16], sizes), abs=1e-9)
    assert {"acc@1,none", "no_answer_rate,none"} <= set(results["results"]["medmnist_breast"])


def test_include_path_works_when_auto_discovery_is_off(tmp_path, tiny_model, sample_root):
    base = ["lmms-eval", "--model", "qwen2_5_vl", "--model_args", f"pretrained={tiny_model},device_map=cpu", "--device", "cpu",
            "--tasks", "medmnist_pneumonia", "--limit", "2", "--gen_kwargs", "max_new_tokens=8"]
    env = {"MEDMNIST_ROOT": str(sample_root), "MEDMNIST_SIZE": "28", "MEDBRIDGE_NO_AUTO_TASKS": "1"}
    off = run_cli(base + ["--output_path", str(tmp_path / "off")], env=env)
    assert "Tasks not found: medmnist_pneumonia" in off.stdout + off.stderr  # proves the entry point is the hook
    on = run_cli(base + ["--include_path", str(tasks_dir_path()), "--output_path", str(tmp_path / "on")], env=env)
    results = list((tmp_path / "on").rglob("*_results.json"))
    assert results, on.stderr[-3000:]
    assert "acc@1,none" in json.loads(results[0].read_text())["results"]["medmnist_pneumonia"]


def test_a_new_task_is_one_yaml_that_includes_the_base(tmp_path, tiny_model, sample_root):
    """The CONTRIBUTING.md contract: drop one YAML in a folder, run it."""
    folder = tmp_path / "my_tasks"
    folder.mkdir()
    (folder / "breast_val.yaml").write_text(
        f"include: {tasks_dir_path() / 'medmnist' / '_medmnist.yaml'}\n"
        "task: my_breast_val\n"
        "dataset_name: breastmnist\n"
        "test_split: val\n"
    )
    out = tmp_path / "eval"
    proc = run_cli(["medbridge", "eval", "--model", str(tiny_model), "--tasks", "my_breast_val", "--output", str(out), "--include-path", str(folder),
                    "--data-root", str(sample_root), "--size", "28", "--gen-kwargs", "max_new_tokens=24"])
    assert proc.returncode == 0, proc.stderr[-3000:]
    record = json.loads((out / "records" / "my_breast_val.json").read_text())
    assert record["n_docs"] == 4  # the val split of the sample: 2 per class
    assert set(record["metrics"]) == {"acc@1", "no_answer_rate"}


def test_lmms_eval_runs_vqa_rad_and_slake_from_local_copies(tmp_path, tiny_model):
    import vqa_fixtures as fx

    env = {
        "MEDBRIDGE_DATA_VQA_RAD": str(fx.vqa_rad_release(tmp_path / "vqa_rad")),
        "MEDBRIDGE_DATA_SLAKE": str(fx.slake_release(tmp_path / "slake")),
        "MEDBRIDGE_CACHE": str(tmp_path / "cache"),
    }
    out = tmp_path / "out"
    proc = run_cli(
        ["lmms-eval", "--model", "qwen2_5_vl", "--model_args", f"pretrained={tiny_model},device_map=cpu", "--device", "cpu",
         "--tasks", "vqa_rad,slake_passk", "--gen_kwargs", "max_new_tokens=24", "--batch_size", "16", "--output_path", str(out), "--log_samples"],
        env=env,
    )
    log = proc.stdout + proc.stderr
    results_file = list(out.rglob("*_results.json"))
    assert results_file, log[-3000:]
    results = json.loads(results_file[0].read_text())["results"]
    assert log.count("task 'slake' replaces lmms-eval's built-in") == 1  # announced once
    assert {"acc@1,none", "no_answer_rate,none"} <= set(results["vqa_rad"])
    assert set(results["vqa_rad"]["by_modality,none"]) == {"radiology"}
    assert results["vqa_rad"]["by_question_type,none"]["PRES"]["n"] == 1
    assert set(results["slake_passk"]["by_modality,passk"]) == {"CT", "X-Ray"}
    samples = [json.loads(line) for line in _only("*_samples_slake_passk.jsonl", out).read_text().splitlines()]
    assert len(samples) == 2 and all(len(_responses(s)) == 16 for s in samples)


def test_demo_command_runs_end_to_end_into_its_own_leaderboard(tmp_path):
    proc = run_cli(["medbridge", "demo", "--workdir", str(tmp_path / "demo"), "--tasks", "medmnist_breast,medmnist_breast_passk"])
    assert proc.returncode == 0, proc.stderr[-3000:]
    table = (tmp_path / "demo" / "results" / "table.md").read_text()
    assert "| medmnist_breast | 2 |" in table and table in proc.stdout
    page = tmp_path / "demo" / "leaderboard" / "medmnist_acc1.md"
    rows = page.read_text().count("tiny-qwen2.5-vl (demo)")
    assert rows >= 1
    again = run_cli(["medbridge", "demo", "--workdir", str(tmp_path / "demo"), "--tasks", "medmnist_breast,medmnist_breast_passk"])
    assert again.returncode == 0, again.stderr[-3000:]
    assert page.read_text().count("tiny-qwen2.5-vl (demo)") == rows  # a second demo run replaces its rows
    assert "4 of 4 questions from the sample cache" in again.stderr  # both tasks reuse the first run's samples
