"""An output folder receives a run's files all at once: a run killed at any point leaves no
orphan a rerun would duplicate, and nothing heavy starts before the inputs are checked."""

import json
import os
import subprocess
import sys

import pytest
from conftest import REPO
from medbridge.harness.errors import ConfigError
from medbridge.harness.lmms.staging import MANIFEST, STAGE, StagedOutput


def stage_two_files(out):
    stage = StagedOutput(out)
    stage.open()
    (stage.root / "lmms_eval" / "m").mkdir(parents=True)
    (stage.root / "lmms_eval" / "m" / "x_results.json").write_text("{}")
    (stage.root / "records").mkdir()
    (stage.root / "records" / "t.json").write_text("{}")
    return stage


def visible(out):
    """The files a user (or `leaderboard add`) sees: everything outside the staging folder."""
    return sorted(
        str(p.relative_to(out)) for p in out.rglob("*") if p.is_file() and not p.relative_to(out).parts[0].startswith(".medbridge-staging")
    )


def test_an_uncommitted_stage_is_dropped_and_a_committed_one_finished_by_the_next_run(tmp_path, monkeypatch):
    out = tmp_path / "out"
    stage = stage_two_files(out)
    stage.close()  # killed before the commit
    assert visible(out) == []
    StagedOutput(out).open()  # the next run
    assert not any((out / STAGE).iterdir()) and visible(out) == []

    stage = stage_two_files(tmp_path / "out2")
    real, calls = os.replace, []

    def die_after_first_move(src, dst):
        if str(src).endswith(".json") and MANIFEST not in str(src) and not str(src).endswith(".tmp"):
            calls.append(src)
            if len(calls) == 2:
                raise KeyboardInterrupt("killed while moving")
        return real(src, dst)

    monkeypatch.setattr(os, "replace", die_after_first_move)
    with pytest.raises(KeyboardInterrupt):
        stage.commit()
    monkeypatch.setattr(os, "replace", real)
    stage.close()
    assert len(visible(tmp_path / "out2")) == 1  # half moved
    assert StagedOutput(tmp_path / "out2").recover() == "finished"
    assert visible(tmp_path / "out2") == ["lmms_eval/m/x_results.json", "records/t.json"]


def test_a_run_that_fails_inside_the_stage_leaves_no_staging_folder_and_frees_the_folder(tmp_path):
    out = tmp_path / "out"
    with pytest.raises(RuntimeError, match="task failed"), StagedOutput(out) as stage:
        (stage.root / "records").mkdir()
        (stage.root / "records" / "t.json").write_text("{}")
        raise RuntimeError("task failed")
    assert not (out / STAGE).exists() and visible(out) == []
    with StagedOutput(out) as stage:  # the lock went with the failed run
        assert stage.root.is_dir()


def test_two_runs_cannot_share_an_output_folder_and_a_file_in_the_way_is_one_line(tmp_path):
    first = StagedOutput(tmp_path / "out")
    first.open()
    with pytest.raises(ConfigError, match="another medbridge run is writing to this output folder"):
        StagedOutput(tmp_path / "out").open()
    first.close()
    (tmp_path / "file").write_text("x")
    with pytest.raises(ConfigError, match="cannot be a folder: .* is a file"):
        StagedOutput(tmp_path / "file" / "out").open()


def test_a_run_killed_right_after_lmms_eval_wrote_its_results_leaves_nothing_and_the_rerun_one_set(
    tmp_path, tiny_model, sample_root, monkeypatch
):
    from lmms_eval.loggers import EvaluationTracker
    from lmms_eval.tasks import TaskManager
    from medbridge.harness.lmms.discovery import _builtin_dir
    from medbridge.harness.lmms.evaluation import evaluate

    indexed = []
    original_index = TaskManager._get_task_and_group
    monkeypatch.setattr(TaskManager, "_get_task_and_group", lambda self, d: indexed.append(os.path.abspath(d)) or original_index(self, d))
    out = tmp_path / "out"
    kwargs = dict(gen_kwargs="max_new_tokens=4", limit=2, device="cpu", data_root=str(sample_root), size=28)

    def killed(*args, **kw):
        raise SystemExit("kill -9")

    monkeypatch.setattr(EvaluationTracker, "save_results_samples", killed)  # right after ..._results.json
    with pytest.raises(SystemExit):
        evaluate(str(tiny_model), ["medmnist_breast"], out, **kwargs)
    assert visible(out) == []
    monkeypatch.undo()
    monkeypatch.setattr(TaskManager, "_get_task_and_group", lambda self, d: indexed.append(os.path.abspath(d)) or original_index(self, d))
    records = evaluate(str(tiny_model), ["medmnist_breast"], out, **kwargs)
    files = visible(out)
    assert (
        len([f for f in files if f.endswith("_results.json")]) == 1 and "records/medmnist_breast.json" in files and "groups.json" in files
    )
    assert records[0]["n_docs"] == 2 and not (out / STAGE).exists()
    assert indexed and not any(d.startswith(_builtin_dir()) for d in indexed)  # only medbridge's folder was indexed


def test_bad_input_is_reported_before_lmms_eval_or_torch_is_imported(tmp_path, tiny_model):
    code = f"""
import json, sys
from medbridge.harness.cli import main
rcs = [main(["tasks", "list"]),
       main(["eval", "--model", {str(tmp_path / "missing")!r}, "--tasks", "medmnist_breast", "--output", {str(tmp_path / "o")!r}]),
       main(["eval", "--model", {str(tiny_model)!r}, "--tasks", "medmnist_breast", "--output", {str(tmp_path / "o")!r},
             "--data-root", {str(tmp_path / "none")!r}])]
print(json.dumps({{"rcs": rcs, "heavy": [m for m in ("lmms_eval", "torch", "transformers", "datasets") if m in sys.modules]}}))
"""
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=120)
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert report == {"rcs": [0, 2, 2], "heavy": []}, proc.stderr[-2000:]
    assert "medmnist_breast_passk" in proc.stdout and "DEBUG" not in proc.stdout + proc.stderr
    assert "checkpoint path does not exist" in proc.stderr and "MedMNIST data root does not exist" in proc.stderr
