"""The plan of a study: every node's key, folder and what a run would do with it.

Each node gets ``<runs>/<name>-<key>/``; a node is *reused* when that folder holds a
``stage.json`` written at its end with the same key, *resumed* when it is a training stage whose
run folder holds a complete checkpoint (a killed study), and *run* otherwise. Data a stage needs
but that is not there is named in the plan (the run then fails at that stage, not before).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import MedbridgeError
from . import keys, tasks
from .spec import Node, Study

MARKER = "stage.json"


@dataclass
class Planned:
    node: Node
    key: str
    folder: Path
    action: str  # reuse | resume | run | use (a given checkpoint)
    inputs: dict = field(default_factory=dict)  # what the key hashes, for stage.json and --dry-run
    missing: list[str] = field(default_factory=list)
    marker: dict | None = None  # stage.json once run or reused (the recipe reads its numbers)

    @property
    def model_ref(self) -> str | None:
        """The checkpoint this node provides to its children and evaluations."""
        node = self.node
        if node.kind == "model":
            return str(self.folder / node.name) if node.build else node.path
        if node.trains:
            return str(self.folder / node.name / "model")
        return None

    @property
    def run_dir(self) -> Path:
        return self.folder / self.node.name

    @property
    def eval_dir(self) -> Path:
        return self.folder / "eval"


def read_marker(folder: Path) -> dict | None:
    path = folder / MARKER
    try:
        return json.loads(path.read_text()) if path.is_file() else None
    except (OSError, json.JSONDecodeError):
        return None  # a damaged marker: the stage runs again


class Planner:
    def __init__(self, study: Study):
        self.study = study
        self.planned: dict[str, Planned] = {}
        self.derived: dict[str, tuple] = {}  # derived task -> (task, split, repeats): see tasks.derive

    # ---- data locations shared by evaluation and training ----
    @property
    def medmnist_root(self) -> Path | None:
        """Where MedMNIST files are read: a folder of links when the study names files of any
        name (``data.medmnist_files``), else ``data.medmnist_root`` (else the environment's)."""
        data = self.study.data
        if data.medmnist_files:
            return self.study.runs / ".data" / "medmnist"
        return data.medmnist_root

    def link_medmnist_files(self) -> None:
        """Make the link folder: the root's npz files and the named files under official names."""
        from ..errors import ConfigError
        from ..sources import medmnist
        from ..sources.catalogue import lookup

        data = self.study.data
        if not data.medmnist_files:
            return
        if data.size is None:
            raise ConfigError("data.medmnist_files needs data.size (the image size of those files)", where=str(self.study.file))
        folder = self.medmnist_root
        folder.mkdir(parents=True, exist_ok=True)
        wanted = {}
        if data.medmnist_root and data.medmnist_root.is_dir():
            wanted.update({p.name: p for p in data.medmnist_root.glob("*.npz")})
        for name, path in data.medmnist_files.items():
            if not path.is_file():
                raise ConfigError(f"data.medmnist_files.{name}: file not found", where=str(path))
            wanted[medmnist.file_name(lookup(name).flag, data.size)] = path
        for link_name, target in wanted.items():
            link = folder / link_name
            if link.is_symlink() or link.exists():
                if link.is_symlink() and Path(os.readlink(link)) == target.resolve():
                    continue
                link.unlink()
            link.symlink_to(target.resolve())

    def _fp(self, source: str, name: str, size: int | None = None) -> str:
        """Fingerprint of one dataset as this study reads it (MedMNIST: a named file or the root)."""
        if source != "medmnist":
            return keys.source_fingerprint(source, name)
        from ..sources.catalogue import lookup

        data = self.study.data
        try:
            short = lookup(name).name
        except MedbridgeError as exc:
            return f"missing: {exc.what}"
        if short in data.medmnist_files:
            path = data.medmnist_files[short]
            return keys.file_fingerprint(path) if path.is_file() else f"missing: {path} not found"
        return keys.medmnist_fingerprint(short, data.medmnist_root, size or data.size)

    # ---- keys ----
    def plan(self) -> list[Planned]:
        keys.clear_caches()  # data may have changed since the last plan in this process
        for node in self.study.nodes.values():
            self.planned[node.name] = self._plan(node)
        return list(self.planned.values())

    def add(self, node: Node) -> Planned:
        """Plan a node decided on the way (the recipe's stages); its parent is planned already."""
        self.study.nodes[node.name] = node
        self.planned[node.name] = self._plan(node)
        return self.planned[node.name]

    def _plan(self, node: Node) -> Planned:
        parent = self.planned[node.parent] if node.parent else None
        if node.kind == "model":
            inputs, missing = self._model_inputs(node)
        elif node.kind == "eval":
            inputs, missing = self._eval_inputs(node, parent)
        else:
            inputs, missing = self._train_inputs(node, parent)
        key = keys.stage_key({"schema": "medbridge.study-stage/1", **inputs})
        folder = self.study.runs / f"{node.name}-{key}"
        if node.kind == "model" and not node.build:
            action = "use"
        elif (marker := read_marker(folder)) and marker.get("key") == key and marker.get("status") == "done":
            action = "reuse"
        elif node.trains and _resumable(folder / node.name):
            action = "resume"
        else:
            action = "run"
        return Planned(node, key, folder, action, inputs, missing)

    def _model_inputs(self, node: Node) -> tuple[dict, list[str]]:
        if node.build:
            from .. import tiny_model

            # the builder's own source: a changed builder builds a new checkpoint
            return {"kind": "model", "build": node.build, "builder": keys.file_fingerprint(tiny_model.__file__)}, []
        from ..fingerprint import looks_like_path

        if looks_like_path(node.path) and not Path(node.path).expanduser().exists():
            return {"kind": "model", "fingerprint": f"missing: {node.path}"}, [f"checkpoint {node.path} (not found)"]
        return {"kind": "model", "fingerprint": keys.model_fingerprint(node.path)}, []

    def eval_settings(self, node: Node) -> dict:
        settings = {"backend": "medbridge_hf", "seed": 0, "batch_size": 1, **self.study.eval_settings, **node.eval_settings}
        if self.study.data.size is not None:
            settings.setdefault("size", self.study.data.size)
        return settings

    def _eval_inputs(self, node: Node, parent: Planned) -> tuple[dict, list[str]]:
        settings = self.eval_settings(node)
        settings.pop("device", None)  # where it runs, not what is measured
        settings.pop("include_path", None)  # derived tasks are keyed below by what they derive from
        data = {}
        for name in node.tasks:
            for leaf in tasks.leaves(name):
                found = tasks.task_source(self.derived.get(leaf, (leaf,))[0])
                data[leaf] = self._fp(found[0], found[1], settings.get("size")) if found else "not a medbridge task: keyed by name"
        inputs = {"kind": "eval", "parent": parent.key, "tasks": node.tasks, "settings": settings, "data": data,
                  "derived": {t: self.derived[t] for t in node.tasks if t in self.derived}, "task_yamls": tasks.tasks_folder_fingerprint()}
        return inputs, keys.data_is_missing({k: v for k, v in data.items() if not v.startswith("not a medbridge")})

    def train_overrides(self, node: Node) -> list[str]:
        """What the study adds to a stage's own ``set:`` (and keys): image size and use_care."""
        from .. import yaml12

        out = {**node.overrides}
        if self.study.data.size is not None:
            out.setdefault("data.size", self.study.data.size)
        if node.use_care is not None:
            out["use_care"] = node.use_care
        if node.guard in ("stop", "rollback"):
            out["monitor_stop"] = True
        return [f"{k}={yaml12.scalar_text(v)}" for k, v in out.items()]

    def declared(self, node: Node) -> dict:
        from medbridge.training.config import declared_values

        values, _ = declared_values(node.config, "sft" if node.kind == "sft" else "grpo", self.train_overrides(node))
        return values

    def runtime_overrides(self, planned: Planned) -> list[str]:
        """The full ``--set`` list of a training stage: the study's, plus the parent checkpoint,
        the run folder and (unless the config names one) the study's MedMNIST folder."""
        node = planned.node
        out = self.train_overrides(node)
        parent = self.planned[node.parent]
        out += [f"model={parent.model_ref}", f"output_dir={planned.run_dir}"]
        data = self.declared(node).get("data") or {}
        if not data.get("root") and self.medmnist_root is not None and data.get("source", "medmnist") == "medmnist":
            out.append(f"data.root={self.medmnist_root}")
        return out

    def _train_inputs(self, node: Node, parent: Planned) -> tuple[dict, list[str]]:
        values = self.declared(node)
        values = {k: v for k, v in values.items() if k not in ("model", "output_dir")}
        data = dict(values.get("data") or {})
        root = data.pop("root", None)
        source = data.get("source", "medmnist")
        names = list(data.get("datasets") or [])
        if isinstance(names, str):
            names = [n.strip() for n in names.split(",") if n.strip()]
        monitor = data.get("monitor_datasets") or []
        if isinstance(monitor, str):
            monitor = [n.strip() for n in monitor.split(",") if n.strip()]
        fps = {}
        for name in dict.fromkeys([*names, *monitor]):
            if source == "medmnist" and root:
                fps[name] = keys.medmnist_fingerprint(name, Path(root).expanduser(), data.get("size"))
            else:
                fps[name] = self._fp(source, name, data.get("size"))
        if node.guard:
            check_guard(node, values, str(node.config))
        inputs = {"kind": node.kind, "parent": parent.key, "config": {**values, "data": data}, "data": fps, "guard": node.guard}
        return inputs, keys.data_is_missing(fps)


def check_guard(node: Node, values: dict, where: str) -> None:
    """A guard needs the Pass@K monitor; a rollback needs a checkpoint at every monitored step."""
    from ..errors import ConfigError

    every = int(values.get("monitor_every") or 0)
    if every <= 0:
        raise ConfigError(f"stage {node.name!r}: guard {node.guard} needs the Pass@K monitor", where=where,
                          fix="set monitor_every (and a held-out data.monitor_split) in the config or the stage's `set:`")
    if node.guard == "rollback":
        save = int(values.get("save_steps") or 500)  # TRL's default
        if str(values.get("save_strategy", "steps")) != "steps" or every % save:
            raise ConfigError(f"stage {node.name!r}: guard rollback needs a checkpoint at every monitored step (monitor_every {every}, save_steps {save})",
                              where=where, fix=f"set save_steps: {every} (or a divisor of it) and save_strategy: steps")


def _resumable(run_dir: Path) -> bool:
    """A killed training run: complete checkpoints but no final model yet."""
    from medbridge.training.checkpoints import complete_checkpoints  # no TRL import

    return bool(complete_checkpoints(run_dir)) and not (run_dir / "model" / "run_card.json").is_file()


def compact_tasks(names: list[str]) -> str:
    """``medmnist_organa+passk, medmnist_path`` for a task list with Pass@K twins."""
    out = []
    for name in names:
        if name.endswith("_passk") and name.removesuffix("_passk") in names:
            continue
        out.append(f"{name}+passk" if f"{name}_passk" in names else name)
    return ", ".join(out)


def describe(planned: list[Planned]) -> list[str]:
    """What a run would do with each node: a headline, then its folder and what it lacks."""
    lines = []
    width = max(len(p.node.name) for p in planned)
    for p in planned:
        node = p.node
        what = {"model": "model", "eval": "eval", "sft": "sft", "grpo": "grpo_care" if node.use_care else "grpo"}[node.kind]
        if node.kind == "model":
            detail = f"build {node.build}" if node.build else f"checkpoint {node.path}"
        elif node.kind == "eval":
            detail = f"{node.parent} on {compact_tasks(node.tasks)}"
        else:
            detail = f"from {node.parent}, {node.config.name}" + (f" + set {', '.join(node.overrides)}" if node.overrides else "")
            if node.launch is not None:
                detail += " (accelerate launch)"
        action = {"use": "use", "reuse": "reuse", "resume": "RESUME", "run": "RUN"}[p.action]
        lines.append(f"{action:<6} {node.name:<{width}}  {what:<9}  {detail}")
        if p.action != "use":
            lines.append(f"{'':<6} {'':<{width}}  folder {p.folder}")
        for item in p.missing:
            lines.append(f"{'':<6} {'':<{width}}  missing: {item}")
    return lines
