"""One tiny-model `medbridge eval` run: its records, then `leaderboard add` -> `build` / `--check` -> `diagnose`, into a temporary folder."""

import json

import pytest
from conftest import run_cli
from medbridge.harness.leaderboard import collect
from medbridge.harness.metrics import PASS_KS

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def eval_run(tmp_path_factory, tiny_model, sample_root):
    """One `medbridge eval` run that the record checks and every leaderboard test share."""
    out = tmp_path_factory.mktemp("lb-e2e") / "eval"
    proc = run_cli(["medbridge", "eval", "--model", str(tiny_model), "--tasks", "medmnist_breast,medmnist_breast_passk", "--output", str(out),
                    "--data-root", str(sample_root), "--size", "28", "--gen-kwargs", "max_new_tokens=24", "--batch-size", "16"])  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    return out, proc


@pytest.fixture(scope="module")
def eval_output(eval_run):
    return eval_run[0]


def test_medbridge_eval_writes_one_normalised_record_per_task(eval_run, tiny_model, sample_root):
    out, proc = eval_run
    greedy = json.loads((out / "records" / "medmnist_breast.json").read_text())
    passk = json.loads((out / "records" / "medmnist_breast_passk.json").read_text())
    assert greedy["schema"] == "medbridge.record/1"
    assert greedy["model"]["id"] == str(tiny_model) and greedy["model"]["fingerprint"].startswith("sha256:")
    assert greedy["task"]["config_hash"].startswith("sha256:") and greedy["task"]["config_hash"] != passk["task"]["config_hash"]
    assert greedy["n_docs"] == 8 and greedy["n_samples"] == 8 and not greedy["limited"]  # sample: 4 per class, 2 classes
    assert passk["n_samples"] == 8 * 16
    assert passk["generation"]["n"] == 16 and passk["generation"]["temperature"] == 0.7 and passk["generation"]["max_new_tokens"] == 24
    assert set(passk["metrics"]) == {*(f"pass@{k}" for k in PASS_KS), "sample_acc", "no_answer_rate"}
    assert passk["metrics"]["pass@1"]["value"] == pytest.approx(passk["metrics"]["sample_acc"]["value"])
    assert passk["metrics"]["pass@16"]["stderr"] is not None
    assert greedy["data"]["size"] == 28 and greedy["data"]["file"] == str(sample_root / "breastmnist.npz")
    assert greedy["task"]["split"] == "test"
    assert greedy["versions"]["lmms-eval"] == "0.7.3" and greedy["versions"]["medbridge"]
    assert greedy["provenance"]["kind"] == "measured"
    assert "medmnist_breast_passk" in proc.stdout and "pass@16=" in proc.stdout  # one summary line per task
    assert list((out / "lmms_eval").rglob("*_samples_medmnist_breast_passk.jsonl"))


def test_eval_output_to_pages(eval_output, tmp_path):
    root = tmp_path / "lb"
    add = run_cli(["medbridge", "leaderboard", "add", str(eval_output), "--root", str(root), "--name", "tiny-base", "--stage", "base"])
    assert add.returncode == 0, add.stderr
    # the same run as its own "RL child": exercises the paired path (no difference, p = 1)
    add = run_cli(["medbridge", "leaderboard", "add", str(eval_output), "--root", str(root), "--name", "tiny-rl", "--parent", "tiny-base", "--stage", "rl", "--trained-on", "breast"])
    assert add.returncode == 0, add.stderr
    files = sorted(p.relative_to(root).as_posix() for p in (root / "results").rglob("*.json"))
    assert len(files) == 4 and files[0].startswith("results/tiny-base/medmnist_breast__")

    greedy = json.loads((root / files[0]).read_text())
    assert greedy["provenance"]["kind"] == "measured" and greedy["model"]["display_name"] == "tiny-base"
    assert greedy["per_doc"]["doc_id"] == list(range(8)) and len(greedy["per_doc"]["scores"]["acc@1"]) == 8
    child = json.loads((root / files[2]).read_text())
    assert child["model"]["parent"] == "tiny-base" and child["model"]["trained_on"] == ["breast"]

    build = run_cli(["medbridge", "leaderboard", "build", "--root", str(root)])
    assert build.returncode == 0, build.stderr
    check = run_cli(["medbridge", "leaderboard", "build", "--check", "--root", str(root)])
    assert check.returncode == 0 and "up to date" in check.stderr

    acc = (root / "medmnist_acc1.md").read_text()
    value = 100 * greedy["metrics"]["acc@1"]["value"]
    assert f"| tiny-base | measured | {value:.1f} <sub>[" in acc and "n=8</sub>" in acc
    assert "Δ +0.0 [+0.0, +0.0] p=1.000" in acc
    passk = (root / "passk.md").read_text()
    assert "### Breast (`medmnist_breast`)" in passk and (root / "plots" / "passk_radiology.png").is_file()
    assert "| breast | Breast | in-domain |" in (root / "rl_transfer.md").read_text()

    diag = run_cli(["medbridge", "diagnose", "--records", str(root), "--k", "16", "--tau", "0.5"])
    assert diag.returncode == 0, diag.stderr
    assert "| tiny-base | medmnist_breast | measured | 8 |" in diag.stdout


def test_a_plain_lmms_eval_folder_gives_the_same_scores(eval_output):
    from_medbridge = {r["task"]["name"]: r for r in collect(eval_output)}
    from_lmms_eval = {r["task"]["name"]: r for r in collect(eval_output / "lmms_eval")}
    assert set(from_lmms_eval) == set(from_medbridge) == {"medmnist_breast", "medmnist_breast_passk"}
    for task, record in from_lmms_eval.items():
        assert record["per_doc"] == from_medbridge[task]["per_doc"]
        assert record["metrics"] == from_medbridge[task]["metrics"]
        assert record["data"] == {} and "data settings not recorded" in record["provenance"]["how"]


def test_eval_records_carry_the_per_question_scores_of_the_sample_logs(eval_output):
    metrics = {}
    for task in ("medmnist_breast", "medmnist_breast_passk"):
        written = json.loads((eval_output / "records" / f"{task}.json").read_text())
        samples = [json.loads(line) for line in next((eval_output / "lmms_eval").rglob(f"*_samples_{task}.jsonl")).read_text().splitlines()]
        by_doc = {s["doc_id"]: s for s in samples}
        assert written["per_doc"]["doc_id"] == sorted(by_doc) and len(by_doc) == written["n_docs"] == 8
        for metric, values in written["per_doc"]["scores"].items():
            assert values == [float(by_doc[d][metric]) for d in written["per_doc"]["doc_id"]]
        assert written["per_doc"]["target"] == [by_doc[d]["target"] for d in written["per_doc"]["doc_id"]]
        metrics[task] = set(written["per_doc"]["scores"])
    assert {"acc@1", "no_answer_rate"} <= metrics["medmnist_breast"] and {"pass@1", "pass@16"} <= metrics["medmnist_breast_passk"]


def _edited_copy(eval_output, tmp_path, drop_per_doc: bool):
    import shutil

    copy = tmp_path / "eval"
    shutil.copytree(eval_output, copy)
    record = copy / "records" / "medmnist_breast.json"
    data = json.loads(record.read_text())
    data["metrics"]["acc@1"]["value"] = 0.99
    if drop_per_doc:  # a folder written before records carried per_doc: the sample logs are read
        del data["per_doc"]
    record.write_text(json.dumps(data))
    return copy


def test_a_record_edited_away_from_its_per_question_scores_is_refused(eval_output, tmp_path, capsys):
    from medbridge.harness.cli import main

    copy = _edited_copy(eval_output, tmp_path, drop_per_doc=False)
    assert main(["leaderboard", "add", str(copy), "--root", str(tmp_path / "lb")]) == 2
    err = capsys.readouterr().err
    assert "per-question scores of task 'medmnist_breast' do not reproduce its record" in err and "the record says 0.990000" in err
    assert not (tmp_path / "lb" / "results").exists()  # nothing written, not even the good task


def test_samples_that_do_not_match_a_record_without_per_doc_are_refused(eval_output, tmp_path, capsys):
    from medbridge.harness.cli import main

    copy = _edited_copy(eval_output, tmp_path, drop_per_doc=True)
    assert main(["leaderboard", "add", str(copy), "--root", str(tmp_path / "lb")]) == 2
    err = capsys.readouterr().err
    assert "no samples file matches the record of task 'medmnist_breast'" in err and "the record says 0.990000" in err
    assert not (tmp_path / "lb" / "results").exists()
