"""Studies: the YAML contract and its one-line errors, content keys (an edit reruns only what
depends on it), the shipped studies' plans, and one real tiny study (build-free: the session's
tiny checkpoint and MedMNIST sample) run end to end, rerun, resumed after a kill, and with a
failing stage."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from conftest import REPO, run_cli, shared_file
from medbridge.harness.errors import ConfigError

pytest.importorskip("trl")

SFT = REPO / "training" / "configs" / "tiny_sft.yaml"
CARE = REPO / "training" / "configs" / "tiny_grpo_care.yaml"


def write_study(folder: Path, model: Path, root: Path, *, care_set: str = "", extra_stages: str = "") -> Path:
    text = f"""
name: t
runs: {folder / 'runs'}
leaderboard: {folder / 'board'}
data: {{medmnist_root: {root}, size: 28}}
eval: {{per_class: 1}}
task_sets:
  in_domain: [medmnist_pneumonia, medmnist_pneumonia_passk]
  transfer: [medmnist_breast]
  both: [in_domain, transfer]
models:
  base: {{path: {model}, eval: [both]}}
stages:
  sft:
    kind: sft
    from: base
    config: {SFT}
    set: {{max_steps: 1, save_steps: 1, per_device_train_batch_size: 4, data.limit: 8}}
    eval: [both]
  care:
    kind: grpo_care
    from: sft
    config: {CARE}
    set: {{max_steps: 2, save_steps: 1, monitor_every: 2, monitor_k: 2, data.monitor_limit: 2, monitor_max_new_tokens: 12, max_completion_length: 16, data.limit: 8{care_set}}}
    eval: [both]
{extra_stages}"""
    path = folder / "study.yaml"
    path.write_text(text)
    return path


def plan(path, **kw):
    from medbridge.harness.study.plan import Planner
    from medbridge.harness.study.spec import load_study

    planner = Planner(load_study(path, **kw))
    return {p.node.name: p for p in planner.plan()}


# ---- the YAML contract ----

@pytest.mark.parametrize(
    ("edit", "message"),
    [
        ("s/kind: sft/kind: sfft/", "kind must be one of"),
        ("s/from: base/from: bsae/", "unknown 'bsae' (did you mean 'base'?)"),
        ("s/    set: {max_steps: 1, save_steps: 1, per/    sett: {max_steps: 1, save_steps: 1, per/", "unknown key stages.sft.sett (did you mean 'set'?)"),
        ("s/eval: {per_class: 1}/eval: {per_clas: 1}/", "unknown key eval.per_clas (did you mean 'per_class'?)"),
        ("s/tiny_sft.yaml/nothing.yaml/", "training config not found"),
        ("s/set: {max_steps: 1, save_steps: 1, per/set: {output_dir: x, max_steps: 1, save_steps: 1, per/", "`set: output_dir` is decided by the study"),
        ("s/  base: {path/  sft: {path/", "used twice"),
    ],
)
def test_bad_study_files_are_one_line_errors_naming_the_file(tmp_path, tiny_model, sample_root, edit, message):
    import re

    path = write_study(tmp_path, tiny_model, sample_root)
    old, new = edit[2:-1].split("/")
    text = path.read_text()
    assert re.search(re.escape(old), text), old
    path.write_text(text.replace(old, new, 1))
    with pytest.raises(ConfigError) as err:
        plan(path)
    assert message in str(err.value) and str(path) in str(err.value) and "\n" not in str(err.value)


def test_a_stage_that_starts_from_its_own_child_is_a_cycle(tmp_path, tiny_model, sample_root):
    path = write_study(tmp_path, tiny_model, sample_root)
    path.write_text(path.read_text().replace("from: base", "from: care"))
    with pytest.raises(ConfigError, match="cycle"):
        plan(path)


def test_task_sets_nest_and_expand_in_order(tmp_path, tiny_model, sample_root):
    planned = plan(write_study(tmp_path, tiny_model, sample_root))
    assert planned["base.eval"].node.tasks == ["medmnist_pneumonia", "medmnist_pneumonia_passk", "medmnist_breast"]
    assert list(planned) == ["base", "base.eval", "sft", "sft.eval", "care", "care.eval"]


# ---- content keys ----

def test_editing_one_stage_changes_only_its_key_and_its_dependants(tmp_path, tiny_model, sample_root):
    before = plan(write_study(tmp_path, tiny_model, sample_root))
    after = plan(write_study(tmp_path, tiny_model, sample_root, care_set=", learning_rate: 0.5"))
    changed = {n for n in before if before[n].key != after[n].key}
    assert changed == {"care", "care.eval"}
    assert after["care"].inputs["config"]["learning_rate"] == 0.5
    assert after["care"].inputs["parent"] == before["sft"].key  # the parent's key, not a path


def test_changed_data_file_reruns_the_stages_that_read_it(tmp_path, tiny_model, sample_root):
    root = tmp_path / "mm"
    shutil.copytree(sample_root, root)
    path = write_study(tmp_path, tiny_model, root)
    before = plan(path)
    breast = root / "breastmnist.npz"
    breast.write_bytes(breast.read_bytes() + b"\0")  # another copy of BreastMNIST
    after = plan(path)
    changed = {n for n in before if before[n].key != after[n].key}
    assert changed == {"base.eval", "sft.eval", "care.eval"}  # evaluated on breast; trained on pneumonia only
    (root / "pneumoniamnist.npz").unlink()
    missing = plan(path)
    assert any("pneumoniamnist.npz not found" in m for m in missing["sft"].missing)


def test_rq3_dry_run_prints_the_paper_plan(tmp_path):
    result = run_cli(["medbridge", "study", "run", str(REPO / "studies" / "rq3_transfer.yaml"), "--dry-run"], env={"MEDMNIST_ROOT": str(tmp_path)})
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    stages = [ln.split()[1] for ln in lines if ln.startswith("  RUN ") and "grpo_care" in ln]
    assert stages == [f"rq3-{t}-from-{s}" for t in ("organa", "path", "oct") for s in ("base", "sft")]
    evals = {ln.split()[1]: ln for ln in lines if ln.startswith("  RUN ") and " eval " in ln}
    assert "medmnist_organc+passk, medmnist_organs+passk, medmnist_pneumonia+passk, medmnist_path+passk, medmnist_oct+passk" in evals["rq3-organa-from-sft.eval"]
    assert evals["rq3-oct-from-base.eval"].endswith("on medmnist_oct+passk, medmnist_path+passk")
    assert "from OctoMed-7B, rq3_path_from_sft.yaml (accelerate launch)" in result.stdout
    assert "missing: MedMNIST file organamnist_224.npz not found (the official name at 224 px) (needed by organa)" in result.stdout


def test_tiny_study_plans_against_the_real_files():
    shared_file("medmnist", "pneumoniamnist_partial.npz")
    planned = plan(REPO / "studies" / "tiny.yaml", runs="/nonexistent/runs")
    assert [p.action for p in planned.values()] == ["run"] * 6
    assert not any(p.missing for p in planned.values())
    assert planned["tiny-care"].inputs["config"]["use_care"] is True


# ---- a real study ----

@pytest.fixture(scope="module")
def study_run(tiny_model, sample_root, tmp_path_factory):
    from medbridge.harness.study import run_study

    folder = tmp_path_factory.mktemp("study")
    path = write_study(folder, tiny_model, sample_root)
    return folder, path, run_study(path)


def test_study_runs_every_stage_and_builds_a_leaderboard_with_lineage(study_run):
    folder, _, outcome = study_run
    assert outcome.ok and outcome.ran == ["base.eval", "sft", "sft.eval", "care", "care.eval"]
    card = json.loads((outcome.planned[4].run_dir / "model" / "run_card.json").read_text())
    assert (card["name"], card["parent"], card["algorithm"], card["steps"]) == ("care", "sft", "grpo_care", 2)
    records = [json.loads(p.read_text()) for p in outcome.records]
    lineage = {(r["model"]["display_name"], r["task"]["name"]): (r["model"].get("parent"), r["model"].get("stage"), r["study"]["stage"]) for r in records}
    assert lineage[("care", "medmnist_breast")] == ("sft", "rl", "care.eval")
    assert lineage[("sft", "medmnist_pneumonia_passk")] == ("base", "sft", "sft.eval")
    assert lineage[("base", "medmnist_pneumonia")] == (None, "base", "base.eval")
    page = (folder / "board" / "rl_transfer.md").read_text()
    rows = [ln for ln in page.splitlines() if ln.startswith("| ") and "before" not in ln]
    assert [(r.split("|")[3].strip(), r.split("|")[4].strip()) for r in rows] == [("Pneumonia", "in-domain"), ("Breast", "within-modality")] * 2
    assert all("Δ" in r.split("|")[6] for r in rows)  # paired delta against the parent, measured


def test_rerun_reuses_everything_and_a_killed_training_resumes(study_run, capsys):
    from medbridge.harness.study import run_study

    _, path, first = study_run
    again = run_study(path)
    assert again.ran == [] and again.ok and len(again.reused) == 6
    care = next(p for p in first.planned if p.node.name == "care")
    # killed after its first checkpoint: no final model, no marker
    (care.folder / "stage.json").unlink()
    shutil.rmtree(care.run_dir / "model")
    shutil.rmtree(care.run_dir / "checkpoints" / "checkpoint-2")
    resumed = run_study(path)
    assert resumed.ran == ["care"]  # its evaluation is keyed by inputs, so it is still reused
    assert "resuming grpo" in capsys.readouterr().err
    marker = json.loads((care.folder / "stage.json").read_text())
    assert marker["resumed"] is True and marker["steps"] == 2
    card = json.loads((care.run_dir / "model" / "run_card.json").read_text())
    assert card["resumed_from"][0].endswith("checkpoint-1")


def test_a_failing_stage_is_one_line_and_its_dependants_do_not_run(study_run, tiny_model, sample_root, tmp_path, capsys):
    from medbridge.harness.cli.main import main

    folder = study_run[0]
    bad = f"""  broken:
    kind: sft
    from: base
    config: {SFT}
    set: {{data.split: tset}}
    eval: [transfer]
"""
    path = write_study(folder, tiny_model, sample_root, extra_stages=bad)
    assert main(["study", "run", str(path)]) == 2
    err = capsys.readouterr().err
    failed = [ln for ln in err.splitlines() if "stage 'broken' failed" in ln]
    assert len(failed) == 1 and "tset" in failed[0]
    assert "stage 'broken.eval' skipped: 'broken' failed" in err
    assert "Traceback" not in err


def test_guards_and_launch_become_the_training_command(tmp_path, tiny_model, sample_root):
    from medbridge.harness.study.execute import _launch_command
    from medbridge.harness.study.plan import Planner
    from medbridge.harness.study.spec import load_study

    launch = f"    launch: {{accelerate_config: {REPO / 'training' / 'accelerate' / 'ddp.yaml'}, num_processes: 2}}\n    guard: stop\n"
    path = write_study(tmp_path, tiny_model, sample_root)
    path.write_text(path.read_text().replace("    eval: [both]\n", "    eval: [both]\n" + launch, 2).replace(launch, "", 1))
    planner = Planner(load_study(path))
    planned = {p.node.name: p for p in planner.plan()}
    care = planned["care"]
    assert care.node.guard == "stop" and "monitor_stop=true" in planner.train_overrides(care.node)
    assert care.inputs["guard"] == "stop"
    cmd = _launch_command(care, planner.runtime_overrides(care), resume=True)
    assert cmd[1:6] == ["launch", "--config_file", str(REPO / "training" / "accelerate" / "ddp.yaml"), "--num_processes", "2"]
    assert cmd[6:11] == ["-m", "medbridge.training", "grpo", "--config", str(CARE)] and cmd[-1] == "--resume"
    sets = [cmd[i + 1] for i, a in enumerate(cmd) if a == "--set"]
    assert f"model={planned['sft'].model_ref}" in sets and f"output_dir={care.run_dir}" in sets and f"data.root={sample_root}" in sets
    assert "use_care=true" in sets and "data.size=28" in sets
    with pytest.raises(ConfigError, match="guard must be one of"):
        path.write_text(path.read_text().replace("guard: stop", "guard: sometimes"))
        load_study(path)


def test_a_second_run_on_the_same_runs_folder_is_refused(tmp_path, tiny_model, sample_root):
    from medbridge.harness.study import run_study
    from medbridge.harness.study.execute import runs_lock

    path = write_study(tmp_path, tiny_model, sample_root)
    with runs_lock(tmp_path / "runs"), pytest.raises(ConfigError, match=r"another study run is using this runs folder \(pid \d+\)"):
        run_study(path)
    run_study(path, dry_run=True)  # a plan needs no lock
