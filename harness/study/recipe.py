"""``medbridge recipe``: the paper's boundary-aware post-training rule (section 4, eq. 1) as one run.

1. Diagnose support: S_K = Pass@K and A = Acc@1 of the current model on a validation set (the
   recipe's tasks on their ``val`` split, through lmms-eval like any evaluation), pooled over
   the tasks by their number of questions; the advice is ``leaderboard.diagnose.advise``, the
   rule ``medbridge diagnose`` applies.
2. Bridge while support is weak: S_K < tau -> SFT on the proximal data the bridge config names,
   then diagnose again (at most ``max_rounds`` times; then stop: RL is not advised).
3. Sharpen once S_K >= tau (and the gap S_K - A is at least ``gap``; 0 by default, the paper's
   rule): GRPO-CARE with the Pass@K monitor as guard (``stop``, or ``rollback`` to the best
   monitored checkpoint when Pass@K falls more than the margin below its start).
4. Evaluate the start model and every trained model on the final tasks and add the rows with
   their lineage (base -> bridge -> sharpen) to the leaderboard.

Every decision is printed with the numbers behind it and kept in the recipe card
(``<runs>/<name>.recipe.json``) and in the final model's run card (``recipe``). The stages are
study stages: keyed by their inputs, so a rerun reuses what is finished.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import ConfigError
from .spec import TOP_KEYS, Node, Study, _path, _tasks, check_keys, read_yaml, study_from_values

RECIPE_KEYS = {"diagnose", "bridge", "sharpen", "evaluate"}
DIAGNOSE_KEYS = {"tasks", "split", "k", "n", "tau", "gap", "eval_settings"}
BRIDGE_KEYS = {"config", "set", "max_rounds"}
SHARPEN_KEYS = {"kind", "config", "set", "guard", "margin"}


@dataclass
class Recipe:
    study: Study
    model: str
    tasks: list[str]  # validation tasks (medbridge task names; run on `split`)
    split: str = "val"
    k: int = 16
    n: int | None = None  # samples per question in the diagnosis (default: the task's, 16)
    tau: float = 0.5
    gap: float = 0.0
    diagnose_settings: dict = field(default_factory=dict)
    bridge: dict | None = None
    max_rounds: int = 1
    sharpen: dict | None = None
    evaluate: list[str] = field(default_factory=list)


def load_recipe(path: str | Path, *, runs=None, leaderboard=None, tau=None, k=None, gap=None) -> Recipe:
    raw = read_yaml(Path(path))
    file = Path(raw.pop("__file__"))
    where, base = str(file), file.parent
    check_keys(raw, TOP_KEYS | {"recipe"}, where, "study")
    spec = raw.pop("recipe", None)
    if not isinstance(spec, dict):
        raise ConfigError("a recipe file needs a `recipe:` section (diagnose, bridge, sharpen, evaluate)", where=where)
    check_keys(spec, RECIPE_KEYS, where, "recipe")
    if raw.get("stages"):
        raise ConfigError("a recipe decides its own stages: remove `stages:`", where=where, fix="use `medbridge study run` for a fixed plan")
    study = study_from_values(raw, file, runs, leaderboard)
    models = [n for n in study.nodes.values() if n.kind == "model"]
    if len(models) != 1:
        raise ConfigError(f"a recipe starts from exactly one model, the file names {len(models)}", where=where)
    task_sets = raw.get("task_sets") or {}
    diag = spec.get("diagnose") or {}
    check_keys(diag, DIAGNOSE_KEYS, where, "recipe.diagnose")
    recipe = Recipe(study, models[0].name, _tasks(diag.get("tasks"), task_sets, where, "recipe.diagnose.tasks"),
                    split=str(diag.get("split", "val")), k=int(k if k is not None else diag.get("k", 16)),
                    n=diag.get("n"), tau=float(tau if tau is not None else diag.get("tau", 0.5)),
                    gap=float(gap if gap is not None else diag.get("gap", 0.0)), diagnose_settings=dict(diag.get("eval_settings") or {}))
    if not 0 < recipe.tau <= 1:
        raise ConfigError(f"tau must be in (0, 1], got {recipe.tau}", where=where, fix="tau is a Pass@K level, e.g. 0.5")
    if recipe.n is not None and recipe.n < recipe.k:
        raise ConfigError(f"diagnose.n = {recipe.n} samples cannot estimate Pass@{recipe.k}", where=where, fix="n >= k")
    greedy = [t for t in recipe.tasks if not t.endswith("_passk")]
    unpaired = [t for t in greedy if f"{t}_passk" not in recipe.tasks] + [t for t in recipe.tasks if t.endswith("_passk") and t.removesuffix("_passk") not in greedy]
    if unpaired or not greedy:
        raise ConfigError(f"diagnosis needs each task with its Pass@K twin (unpaired: {', '.join(unpaired) or 'none given'})", where=where,
                          fix="e.g. tasks: [medmnist_pneumonia, medmnist_pneumonia_passk]")
    for key, keys_allowed in (("bridge", BRIDGE_KEYS), ("sharpen", SHARPEN_KEYS)):
        section = spec.get(key)
        if section is None:
            continue
        check_keys(section, keys_allowed, where, f"recipe.{key}")
        if not section.get("config"):
            raise ConfigError(f"recipe.{key} needs `config` (a training YAML)", where=where)
        config = _path(section["config"], base, where, f"recipe.{key}.config")
        if not config.is_file():
            raise ConfigError(f"training config not found: {config}", where=where, fix="paths are relative to the recipe file")
        setattr(recipe, key, {**section, "config": config, "set": dict(section.get("set") or {})})
    if recipe.bridge:
        recipe.max_rounds = int(recipe.bridge.get("max_rounds", 1))
    if recipe.sharpen is None:
        raise ConfigError("recipe.sharpen is required (the RL stage once support suffices)", where=where)
    kind = recipe.sharpen.get("kind", "grpo_care")
    guard = recipe.sharpen.get("guard", "rollback")
    if kind not in ("grpo", "grpo_care") or guard not in ("warn", "stop", "rollback"):
        raise ConfigError(f"recipe.sharpen: kind grpo|grpo_care and guard warn|stop|rollback, got {kind!r} / {guard!r}", where=where)
    recipe.sharpen.update(kind=kind, guard=guard)
    if "margin" in recipe.sharpen:
        recipe.sharpen["set"]["monitor_margin"] = float(recipe.sharpen["margin"])
    recipe.evaluate = _tasks(spec.get("evaluate"), task_sets, where, "recipe.evaluate")
    return recipe


def pooled(diagnoses) -> tuple[float, float, int]:
    """S_K and A over all validation questions (each task weighted by its questions)."""
    total = sum(d.n for d in diagnoses)
    return sum(d.support * d.n for d in diagnoses) / total, sum(d.accuracy * d.n for d in diagnoses) / total, total


def decide(support: float, accuracy: float, tau: float, gap: float, rounds_done: int, max_rounds: int, can_bridge: bool) -> tuple[str, str]:
    """The staged rule: (bridge | sharpen | stop | sufficient, why)."""
    from ..leaderboard.diagnose import advise

    advice = advise(support, accuracy, tau, gap)
    if advice == "bridge":
        if can_bridge and rounds_done < max_rounds:
            return "bridge", f"S < tau = {tau:g}: bridge support with SFT on proximal data"
        why = "no bridge stage configured" if not can_bridge else f"{rounds_done} bridge round(s) done (max_rounds {max_rounds})"
        return "stop", f"S < tau = {tau:g} and {why}: RL is not advised on weak support"
    if advice == "sharpen":
        return "sharpen", f"S >= tau = {tau:g} (gap {support - accuracy:+.3f} >= {gap:g}): sharpen with RL"
    return "sufficient", f"S >= tau = {tau:g} but the gap {support - accuracy:+.3f} < {gap:g}: little for RL to convert"


class RecipeRun:
    def __init__(self, recipe: Recipe, out=None):
        from .plan import Planner

        self.recipe, self.out = recipe, out or sys.stdout
        self.planner = Planner(recipe.study)
        self.decisions: list[dict] = []

    def say(self, line: str) -> None:
        print(f"recipe {self.recipe.study.name}: {line}", file=self.out, flush=True)

    def ensure(self, planned) -> None:
        from .execute import run_node

        if planned.action in ("run", "resume"):
            print(f"medbridge: stage {planned.node.name!r}: {planned.action} {planned.node.kind} -> {planned.folder}", file=sys.stderr, flush=True)
            planned.marker = run_node(self.planner, planned)
        else:
            from .plan import read_marker

            planned.marker = read_marker(planned.folder) or {}

    def _derived_tasks(self) -> list[str]:
        from . import tasks

        folder = self.recipe.study.runs / ".tasks"
        names = []
        for task in self.recipe.tasks:
            repeats = self.recipe.n if task.endswith("_passk") and self.recipe.n else None
            # one suffix for a task and its twin (diagnosis pairs X with X_passk)
            suffix = self.recipe.split + (f"_n{self.recipe.n}" if self.recipe.n else "")
            name = tasks.derive(task, folder, split=self.recipe.split, repeats=repeats, suffix=suffix)
            self.planner.derived[name] = (task, self.recipe.split, repeats)
            names.append(name)
        return names

    def diagnose(self, model: str) -> dict:
        from ..leaderboard.diagnose import diagnose

        recipe = self.recipe
        settings = {**recipe.diagnose_settings, "include_path": [str(recipe.study.runs / ".tasks")]}
        node = Node(f"{model}.diagnose", "eval", parent=model, tasks=self._derived_tasks(), eval_settings=settings)
        planned = self.planner.add(node)
        self.ensure(planned)
        from ..leaderboard import collect

        rows = diagnose(collect(planned.eval_dir), k=recipe.k, tau=recipe.tau, gap=recipe.gap)
        bad = [d for d in rows if d.advice == "incomplete"]
        if bad:
            raise ConfigError(f"diagnosis of {model} incomplete: {bad[0].reason}", fix=f"the validation tasks need n >= k = {recipe.k} samples")
        support, accuracy, n = pooled(rows)
        return {"model": model, "k": recipe.k, "n": n, "support": support, "accuracy": accuracy, "gap": support - accuracy,
                "tasks": {d.task: {"support": d.support, "accuracy": d.accuracy, "n": d.n, "advice": d.advice} for d in rows}}

    def train(self, name: str, parent: str, kind: str, section: dict, guard: str | None = None):
        node = Node(name, "sft" if kind == "sft" else "grpo", parent=parent, config=section["config"], overrides=section["set"],
                    use_care=None if kind == "sft" else kind == "grpo_care", guard=guard)
        planned = self.planner.add(node)
        self.ensure(planned)
        return planned

    def run(self, root=None) -> dict:
        recipe, study = self.recipe, self.recipe.study
        self.planner.plan()
        self.planner.link_medmnist_files()
        start = self.planner.planned[recipe.model]
        if start.action == "use":
            from ..fingerprint import check_checkpoint

            check_checkpoint(start.node.path)
        else:
            self.ensure(start)
        chain, current, rounds = [recipe.model], recipe.model, 0
        while True:
            d = self.diagnose(current)
            action, why = decide(d["support"], d["accuracy"], recipe.tau, recipe.gap, rounds, recipe.max_rounds, recipe.bridge is not None)
            self.decisions.append({"step": "diagnose", **d, "tau": recipe.tau, "min_gap": recipe.gap, "decision": action, "why": why})
            self.say(f"diagnose {current}: S_{recipe.k} = {d['support']:.3f}, A = {d['accuracy']:.3f}, gap = {d['gap']:+.3f} "
                     f"(n = {d['n']}, {recipe.split} split) -> {action}: {why}")
            if action == "bridge":
                rounds += 1
                planned = self.train(f"{study.name}-bridge{rounds}", current, "sft", recipe.bridge)
                self.decisions.append({"step": "bridge", "round": rounds, "stage": planned.node.name, "from": current, "config": str(planned.node.config)})
                self.say(f"bridge round {rounds}: SFT {planned.node.name} from {current} ({planned.node.config.name}, {planned.action})")
                chain.append(planned.node.name)
                current = planned.node.name
                continue
            if action == "sharpen":
                planned = self.train(f"{study.name}-sharpen", current, recipe.sharpen["kind"], recipe.sharpen, guard=recipe.sharpen["guard"])
                self.decisions.append(self._guard_decision(planned, current))
                chain.append(planned.node.name)
                current = planned.node.name
            break
        evaluations = self._evaluate(chain)
        card = self._card(chain, evaluations, root)
        return card

    def _guard_decision(self, planned, parent: str) -> dict:
        marker = planned.marker or {}
        history = marker.get("monitor") or []
        top = f"pass@{max(int(k.split('@')[1]) for k in history[0] if k.startswith('pass@'))}" if history else None
        entry = {"step": "sharpen", "stage": planned.node.name, "from": parent, "algorithm": "grpo_care" if planned.node.use_care else "grpo",
                 "guard": planned.node.guard, "steps": marker.get("steps"), "monitor": [{k: e.get(k) for k in ("step", "acc@1", top, "collapsed")} for e in history]}
        collapsed = [e for e in history if e.get("collapsed")]
        rollback = marker.get("rollback")
        if rollback:
            entry["rollback"] = rollback
            self.say(f"sharpen {planned.node.name}: {top} {rollback['first']:.3f} -> {rollback['final']:.3f}, collapsed at step {rollback['collapsed_at']} "
                     f"-> {rollback['action']} ({top} {rollback['best']:.3f}, Acc@1 {rollback['best_acc@1']:.3f})")
        elif collapsed:
            self.say(f"sharpen {planned.node.name}: {top} fell past the margin at step {collapsed[0]['step']} -> "
                     f"{'stopped there' if planned.node.guard == 'stop' else 'warned only'} ({marker.get('steps')} steps)")
        elif history:
            self.say(f"sharpen {planned.node.name}: {top} {history[0][top]:.3f} -> {history[-1][top]:.3f}, no collapse ({marker.get('steps')} steps)")
        return entry

    def _evaluate(self, chain: list[str]) -> list:
        recipe = self.recipe
        if not recipe.evaluate:
            return []
        out = []
        final = chain[-1]
        if self.planner.planned[final].node.trains:
            self._write_into_run_card(final)  # before the evaluation, so the records' fingerprint is the final folder's
        for name in chain:
            planned = self.planner.add(Node(f"{name}.eval", "eval", parent=name, tasks=recipe.evaluate))
            self.ensure(planned)
            out.append(planned)
        return out

    def _write_into_run_card(self, name: str) -> None:
        from medbridge.harness.records import RUN_CARD, write_json_atomic

        path = Path(self.planner.planned[name].model_ref) / RUN_CARD
        card = json.loads(path.read_text())
        if card.get("recipe") != self.decisions:
            card["recipe"] = self.decisions
            write_json_atomic(path, card)

    def _card(self, chain: list[str], evaluations, root) -> dict:
        recipe, study = self.recipe, self.recipe.study
        board = Path(root) if root is not None else study.leaderboard
        card = {"schema": "medbridge.recipe/1", "name": study.name, "start": recipe.model, "final": chain[-1], "chain": chain,
                "final_model": self.planner.planned[chain[-1]].model_ref, "decisions": self.decisions,
                "rule": {"k": recipe.k, "tau": recipe.tau, "min_gap": recipe.gap, "split": recipe.split, "max_bridge_rounds": recipe.max_rounds}}
        if evaluations:
            from .board import add_and_build

            files, pages = add_and_build(self.planner, evaluations, board)
            card["evaluation"] = {p.node.parent: (p.marker or {}).get("metrics") for p in evaluations}
            card["leaderboard"] = {"root": str(board), "records": len(files), "pages_changed": pages}
            self.say(f"evaluated {', '.join(chain)} on {', '.join(recipe.evaluate)}; {len(files)} records in {board}")
        from medbridge.harness.records import write_json_atomic

        path = study.runs / f"{study.name}.recipe.json"
        write_json_atomic(path, card)
        self.say(f"final model {card['final_model']} ({' -> '.join(chain)}); recipe card {path}")
        return card


def run_recipe(path, *, root=None, runs=None, tau=None, k=None, gap=None, out=None) -> dict:
    from ..host import environment
    from .execute import runs_lock
    from .runner import vqa_environment

    recipe = load_recipe(path, runs=runs, leaderboard=root, tau=tau, k=k, gap=gap)
    with environment(vqa_environment(recipe.study)), runs_lock(recipe.study.runs):
        return RecipeRun(recipe, out).run(root)
