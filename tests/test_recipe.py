"""``medbridge recipe``: the staged rule (each branch), real tiny runs that bridge then stop and
that sharpen into a real support collapse and roll back, and the rollback helper on real
checkpoints."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from conftest import REPO
from medbridge.harness.errors import ConfigError

pytest.importorskip("trl")

SFT = REPO / "training" / "configs" / "tiny_sft.yaml"
CARE = REPO / "training" / "configs" / "tiny_grpo_care.yaml"


def write_recipe(folder: Path, model: Path, root: Path, tau: float, max_rounds: int = 1) -> Path:
    path = folder / f"recipe-{tau}-{max_rounds}.yaml"
    path.write_text(f"""
name: r
runs: {folder / 'runs'}
leaderboard: {folder / 'board'}
data: {{medmnist_root: {root}, size: 28}}
eval: {{per_class: 1}}
models:
  base: {{path: {model}}}
recipe:
  diagnose: {{tasks: [medmnist_pneumonia, medmnist_pneumonia_passk], k: 1, n: 2, tau: {tau}, eval_settings: {{per_class: 2}}}}
  bridge:
    config: {SFT}
    set: {{max_steps: 80, save_steps: 80, per_device_train_batch_size: 4, warmup_steps: 0}}
    max_rounds: {max_rounds}
  sharpen:
    config: {CARE}
    set: {{max_steps: 2, save_steps: 1, monitor_every: 1, monitor_k: 2, data.monitor_limit: 4, monitor_max_new_tokens: 28, max_completion_length: 28, data.limit: 8, learning_rate: 1.0}}
    guard: rollback
    margin: 0.05
  evaluate: [medmnist_pneumonia]
""")
    return path


# ---- the rule ----

@pytest.mark.parametrize(
    ("support", "accuracy", "rounds", "can_bridge", "gap", "decision"),
    [
        (0.40, 0.30, 0, True, 0.0, "bridge"),      # weak support: bridge first
        (0.40, 0.30, 1, True, 0.0, "stop"),        # still weak after the allowed rounds
        (0.40, 0.30, 0, False, 0.0, "stop"),       # weak and nothing to bridge with
        (0.50, 0.20, 0, True, 0.0, "sharpen"),     # S_K = tau is enough (S_K >= tau)
        (0.90, 0.85, 1, True, 0.10, "sufficient"), # gap below the asked minimum: nothing for RL to convert
        (0.90, 0.80, 1, True, 0.10, "sharpen"),    # 0.9 - 0.8 is 0.0999... in floats: still >= 0.10
    ],
)
def test_the_staged_rule(support, accuracy, rounds, can_bridge, gap, decision):
    from medbridge.harness.study.recipe import decide

    assert decide(support, accuracy, 0.5, gap, rounds, 1, can_bridge)[0] == decision


def test_pooled_support_weights_tasks_by_their_questions():
    from medbridge.harness.leaderboard.diagnose import Diagnosis
    from medbridge.harness.study.recipe import pooled

    rows = [Diagnosis("m", "a", "measured", 2, 1.0, 0.5, 0.5, "sharpen", n=30), Diagnosis("m", "b", "measured", 2, 0.2, 0.1, 0.1, "bridge", n=10)]
    assert pooled(rows) == pytest.approx((0.8, 0.4, 40))


def test_recipe_file_errors(tmp_path, tiny_model, sample_root):
    from medbridge.harness.study.recipe import load_recipe

    path = write_recipe(tmp_path, tiny_model, sample_root, 0.5)
    text = path.read_text()
    for old, new, message in [
        ("tasks: [medmnist_pneumonia, medmnist_pneumonia_passk]", "tasks: [medmnist_pneumonia]", "Pass@K twin (unpaired: medmnist_pneumonia)"),
        ("k: 1, n: 2", "k: 4, n: 2", "n = 2 samples cannot estimate Pass@4"),
        ("guard: rollback", "guard: undo", "guard warn|stop|rollback"),
        ("tau: 0.5", "tau: 1.5", "tau must be in (0, 1]"),
    ]:
        path.write_text(text.replace(old, new))
        with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)").replace("|", r"\|")):
            load_recipe(path)
    path.write_text(text.replace("learning_rate: 1.0", "learning_rate: 1.0, save_steps: 2"))
    from medbridge.harness.study.plan import Planner, check_guard

    recipe = load_recipe(path)
    planner = Planner(recipe.study)
    node = type(recipe.study.nodes["base"])("s", "grpo", parent="base", config=recipe.sharpen["config"], overrides={**recipe.sharpen["set"], "save_steps": 2}, guard="rollback")
    with pytest.raises(ConfigError, match="rollback needs a checkpoint at every monitored step"):
        check_guard(node, planner.declared(node), "x")


# ---- real runs ----

@pytest.fixture(scope="module")
def recipe_folder(tmp_path_factory):
    return tmp_path_factory.mktemp("recipe")


def test_weak_support_and_no_bridge_left_stops_without_rl(recipe_folder, tiny_model, sample_root, capsys):
    from medbridge.harness.study.recipe import run_recipe

    card = run_recipe(write_recipe(recipe_folder, tiny_model, sample_root, tau=0.99, max_rounds=0))
    assert [(d["step"], d.get("decision")) for d in card["decisions"]] == [("diagnose", "stop")]
    first = card["decisions"][0]
    assert first["n"] == 4 and first["support"] < 0.99 and first["gap"] == pytest.approx(first["support"] - first["accuracy"])
    assert set(first["tasks"]) == {"medmnist_pneumonia_val_n2"}  # the validation split, paired with its _passk twin
    assert "0 bridge round(s) done (max_rounds 0): RL is not advised" in first["why"]
    assert card["chain"] == ["base"] and not (Path(tiny_model) / "run_card.json").exists()  # the start model is left as it is
    out = capsys.readouterr().out
    assert f"diagnose base: S_1 = {first['support']:.3f}, A = {first['accuracy']:.3f}, gap = {first['gap']:+.3f} (n = 4, val split) -> stop" in out


def test_bridge_then_sharpen_and_a_collapse_rolls_back(recipe_folder, tiny_model, sample_root, capsys):
    from medbridge.harness.cli.main import main

    # tau 0.7: the tiny base (S_1 = 0.5) is bridged by 80 SFT steps (S_1 = 1 on the sample), then
    # sharpened at learning rate 1.0, which wrecks it: a real collapse of Pass@K on the monitor set
    assert main(["recipe", str(write_recipe(recipe_folder, tiny_model, sample_root, tau=0.99)), "--tau", "0.7"]) == 0
    out = capsys.readouterr()
    assert "stage 'base.diagnose'" not in out.err  # the base's diagnosis from the first run is reused
    card = json.loads((recipe_folder / "runs" / "r.recipe.json").read_text())
    steps = [(d["step"], d.get("decision")) for d in card["decisions"]]
    assert steps == [("diagnose", "bridge"), ("bridge", None), ("diagnose", "sharpen"), ("sharpen", None)]
    assert card["decisions"][0]["support"] < 0.7 <= card["decisions"][2]["support"]
    assert card["chain"] == ["base", "r-bridge1", "r-sharpen"]
    sharpen = card["decisions"][3]
    assert sharpen["guard"] == "rollback" and sharpen["from"] == "r-bridge1" and sharpen["monitor"][0]["step"] == 0
    rollback = sharpen["rollback"]
    assert rollback["collapsed_at"] == 1 and rollback["final"] < rollback["first"] - 0.05  # stopped at the collapse
    assert rollback["best_step"] == 0 and "starting checkpoint" in rollback["action"]
    final, bridged = Path(card["final_model"]), Path(card["final_model"]).parents[2]
    bridge_model = next(bridged.glob("r-bridge1-*/r-bridge1/model"))
    assert (final / "model.safetensors").read_bytes() == (bridge_model / "model.safetensors").read_bytes()  # the parent's weights
    assert (final.parent / "model-collapsed" / "model.safetensors").is_file()
    run_card = json.loads((final / "run_card.json").read_text())
    assert run_card["rollback"] == rollback and run_card["recipe"] == card["decisions"]
    assert "collapsed at step 1 -> rolled back to the starting checkpoint" in out.out
    records = {json.loads(p.read_text())["model"]["display_name"]: json.loads(p.read_text())["model"] for p in (recipe_folder / "board" / "results").rglob("*.json")}
    assert (records["r-bridge1"]["parent"], records["r-bridge1"]["stage"]) == ("base", "sft")
    assert (records["r-sharpen"]["parent"], records["r-sharpen"]["stage"]) == ("r-bridge1", "rl")
    page = (recipe_folder / "board" / "medmnist_acc1.md").read_text()
    assert "RL of r-bridge1" in page and "SFT of base" in page


def test_rollback_picks_the_best_monitored_checkpoint_and_keeps_the_collapsed_one(recipe_folder, tiny_model, tmp_path):
    from medbridge.training.rollback import rollback_to_best

    source = next((recipe_folder / "runs").glob("r-sharpen-*/r-sharpen"))
    run = tmp_path / "run"
    # real checkpoint folders: checkpoint-2 holds the collapsed weights, checkpoint-1 other (the base's) weights
    shutil.copytree(source / "checkpoints" / "checkpoint-1", run / "checkpoints" / "checkpoint-2")
    shutil.copytree(source / "checkpoints" / "checkpoint-1", run / "checkpoints" / "checkpoint-1")
    shutil.copy(Path(tiny_model) / "model.safetensors", run / "checkpoints" / "checkpoint-1" / "model.safetensors")
    shutil.copytree(source / "model-collapsed", run / "model")
    card_path = run / "model" / "run_card.json"
    card = json.loads(card_path.read_text())
    card.pop("rollback", None)
    card["steps"] = 2
    card["monitor_history"] = [{"step": 0, "acc@1": 0.25, "pass@2": 0.5, "collapsed": False},
                               {"step": 1, "acc@1": 0.5, "pass@2": 0.75, "collapsed": False},
                               {"step": 2, "acc@1": 0.0, "pass@2": 0.25, "collapsed": True}]
    card_path.write_text(json.dumps(card))
    collapsed = (run / "model" / "model.safetensors").read_bytes()

    decision = rollback_to_best(run)
    assert decision["best_step"] == 1 and decision["action"] == "rolled back to checkpoint-1"
    assert (decision["first"], decision["best"], decision["final"]) == (0.5, 0.75, 0.25)
    weights = (run / "model" / "model.safetensors").read_bytes()
    assert weights == (Path(tiny_model) / "model.safetensors").read_bytes() != collapsed
    assert {"config.json", "tokenizer.json", "chat_template.jinja", "processor_config.json"} <= {p.name for p in (run / "model").iterdir()}
    assert not {"optimizer.pt", "ema_reference", "trainer_state.json"} & {p.name for p in (run / "model").iterdir()}
    assert json.loads((run / "model" / "run_card.json").read_text())["rollback"] == decision
    assert (run / "model-collapsed" / "model.safetensors").read_bytes() == collapsed
    assert rollback_to_best(run) == decision and (run / "model" / "model.safetensors").read_bytes() == weights  # once only


def test_monitor_marks_the_best_step_so_rotation_keeps_it(recipe_folder):
    state = json.loads(next((recipe_folder / "runs").glob("r-sharpen-*/r-sharpen/checkpoints/checkpoint-1/trainer_state.json")).read_text())
    assert state["best_global_step"] == 0 and state["best_metric"] > 0  # step 0 had the best Pass@2
