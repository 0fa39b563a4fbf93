"""Study files: which models, which training stages from which parents, evaluated on which tasks.

A study is YAML (YAML 1.2 scalars, ``include: other.yaml`` like the training configs)::

    name: tiny
    runs: runs/study-tiny                 # stage folders (relative to the working folder)
    leaderboard: runs/study-tiny/leaderboard
    data: {medmnist_files: {pneumonia: ../data/pneumoniamnist.npz}, size: 28}
    eval: {per_class: 16}                 # defaults of every evaluation
    task_sets: {pneumonia: [medmnist_pneumonia, medmnist_pneumonia_passk]}
    models:
      tiny-base: {build: tiny, eval: [pneumonia]}
    stages:
      tiny-sft: {kind: sft, from: tiny-base, config: ../training/configs/tiny_sft.yaml, set: {max_steps: 40}, eval: [pneumonia]}

Files a study names (training configs, data files) are relative to the study file; ``runs`` and
``leaderboard`` to the working folder, like a training config's ``output_dir``. Models and stages
share one namespace; ``eval: [...]`` on a model or training stage adds an evaluation stage named
``<name>.eval``. Everything is checked here, before anything runs: unknown keys (with the closest
valid one), unknown parents, cycles, task sets, missing config files.
"""

from __future__ import annotations

import difflib
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from .. import yaml12
from ..errors import ConfigError

SCHEMA = "medbridge.study/1"
TRAIN_KINDS = ("sft", "grpo", "grpo_care")
STAGE_KINDS = (*TRAIN_KINDS, "eval")
BUILDERS = ("tiny",)  # `build: tiny`: the offline tiny Qwen2.5-VL (harness.tiny_model)
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")

TOP_KEYS = {"name", "description", "include", "runs", "leaderboard", "data", "eval", "task_sets", "models", "stages"}
DATA_KEYS = {"medmnist_root", "medmnist_files", "size", "vqa"}
EVAL_KEYS = {"backend", "model_args", "gen_kwargs", "per_class", "seed", "batch_size", "device", "limit"}
MODEL_KEYS = {"path", "build", "parent", "stage", "trained_on", "eval", "eval_settings"}
STAGE_KEYS = {"kind", "from", "model", "config", "set", "launch", "guard", "tasks", "eval", "eval_settings"}
GUARDS = ("warn", "stop", "rollback")  # what the Pass@K monitor does when support collapses
LAUNCH_KEYS = {"accelerate_config", "num_processes", "args"}


@dataclass
class DataSettings:
    medmnist_root: Path | None = None
    medmnist_files: dict[str, Path] = field(default_factory=dict)  # dataset -> npz of any name
    size: int | None = None
    vqa: dict[str, Path] = field(default_factory=dict)  # benchmark -> local copy


@dataclass
class Node:
    """A model (kind ``model``) or a stage; ``parent`` is the node it starts from."""

    name: str
    kind: str  # model | eval | sft | grpo
    parent: str | None = None
    # model
    path: str | None = None
    build: str | None = None
    lineage_parent: str | None = None  # leaderboard parent of an external model (OctoMed: SFT of Qwen)
    stage: str | None = None
    trained_on: list[str] = field(default_factory=list)
    # training
    config: Path | None = None
    overrides: dict = field(default_factory=dict)
    use_care: bool | None = None
    launch: dict | None = None
    guard: str | None = None  # GRPO: warn | stop | rollback (to the best monitored checkpoint)
    # eval
    tasks: list[str] = field(default_factory=list)
    eval_settings: dict = field(default_factory=dict)

    @property
    def trains(self) -> bool:
        return self.kind in ("sft", "grpo")


@dataclass
class Study:
    name: str
    file: Path
    runs: Path
    leaderboard: Path
    data: DataSettings
    eval_settings: dict
    nodes: dict[str, Node]  # in dependency order
    description: str = ""

    def children(self, name: str) -> list[Node]:
        return [n for n in self.nodes.values() if n.parent == name]

    def descendants(self, name: str) -> set[str]:
        out, todo = set(), [name]
        while todo:
            for child in self.children(todo.pop()):
                if child.name not in out:
                    out.add(child.name)
                    todo.append(child.name)
        return out


def _hint(key: str, allowed) -> str:
    close = difflib.get_close_matches(key, sorted(allowed), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def check_keys(values: dict, allowed: set[str], where: str, what: str) -> None:
    if not isinstance(values, dict):
        raise ConfigError(f"{what} must be a mapping, got {type(values).__name__}", where=where)
    for key in values:
        if key not in allowed:
            raise ConfigError(f"unknown key {what + '.' if what != 'study' else ''}{key}{_hint(str(key), allowed)}", where=where,
                              fix=f"valid keys: {', '.join(sorted(allowed))}")


def read_yaml(path: Path, seen: tuple[Path, ...] = ()) -> dict:
    """A study (or recipe) file with its includes merged: mappings one level deep, like training configs."""
    path = Path(path).expanduser().resolve()
    if path in seen:
        raise ConfigError("file includes itself", where=" -> ".join(str(p) for p in (*seen, path)))
    if not path.is_file():
        raise ConfigError(f"file not found: {path}", where=f"included from {seen[-1]}" if seen else None, fix="pass a study YAML, e.g. studies/tiny.yaml")
    try:
        raw = yaml12.load(path.read_text()) or {}
    except Exception as exc:  # yaml.YAMLError and its subclasses
        raise ConfigError(f"cannot parse YAML ({type(exc).__name__}: {str(exc).splitlines()[0]})", where=str(path)) from exc
    if not isinstance(raw, dict):
        raise ConfigError("a study file must be a mapping of keys to values", where=str(path))
    base = {}
    if "include" in raw:
        base = read_yaml(path.parent / str(raw.pop("include")), (*seen, path))
        base = _rebase(base, Path(base.pop("__file__")).parent, path.parent)
    merged = {**base, **raw}
    for key, value in raw.items():
        if isinstance(base.get(key), dict) and isinstance(value, dict):
            merged[key] = {**base[key], **value}
    merged["__file__"] = str(path)
    return merged


def _rebase(values: dict, old: Path, new: Path) -> dict:
    """Paths in an included file stay relative to that file."""
    def move(p):
        return str(p) if p is None or Path(os.path.expandvars(str(p))).expanduser().is_absolute() else os.path.relpath(old / str(p), new)

    out = dict(values)
    data = dict(out.get("data") or {})
    if data.get("medmnist_root"):
        data["medmnist_root"] = move(data["medmnist_root"])
    for key in ("medmnist_files", "vqa"):
        if isinstance(data.get(key), dict):
            data[key] = {k: move(v) for k, v in data[key].items()}
    if data:
        out["data"] = data
    stages = {}
    for name, spec in (out.get("stages") or {}).items():
        spec = dict(spec or {})
        if spec.get("config"):
            spec["config"] = move(spec["config"])
        if isinstance(spec.get("launch"), dict) and spec["launch"].get("accelerate_config"):
            spec["launch"] = {**spec["launch"], "accelerate_config": move(spec["launch"]["accelerate_config"])}
        stages[name] = spec
    if stages:
        out["stages"] = stages
    return out


def _path(value, base: Path, where: str, what: str) -> Path:
    text = os.path.expandvars(str(value))
    if "$" in text:
        raise ConfigError(f"{what}: environment variable in {value!r} is not set", where=where)
    path = Path(text).expanduser()
    return path if path.is_absolute() else (base / path)


def _data(raw: dict, base: Path, where: str) -> DataSettings:
    check_keys(raw, DATA_KEYS, where, "data")
    size = raw.get("size")
    if size is not None and size not in (28, 64, 128, 224):
        raise ConfigError(f"data.size must be one of 28, 64, 128, 224, got {size!r}", where=where)
    root = raw.get("medmnist_root")
    files, vqa = raw.get("medmnist_files") or {}, raw.get("vqa") or {}
    for key, mapping in (("medmnist_files", files), ("vqa", vqa)):
        if not isinstance(mapping, dict):
            raise ConfigError(f"data.{key} must map names to paths", where=where)
    from ..sources.catalogue import lookup

    return DataSettings(
        medmnist_root=_path(root, base, where, "data.medmnist_root") if root else None,
        # keyed by the short name (pneumonia), whichever form the file used
        medmnist_files={lookup(str(k)).name: _path(v, base, where, f"data.medmnist_files.{k}") for k, v in files.items()},
        size=size,
        vqa={str(k): _path(v, base, where, f"data.vqa.{k}") for k, v in vqa.items()},
    )


def _eval_settings(raw, where: str, what: str) -> dict:
    raw = raw or {}
    check_keys(raw, EVAL_KEYS, where, what)
    return dict(raw)


def _tasks(entries, task_sets: dict, where: str, what: str, seen: tuple = ()) -> list[str]:
    """Task names from task sets (which may name other task sets) and task names, in order."""
    if isinstance(entries, str):
        entries = [entries]
    if not isinstance(entries, list) or not entries:
        raise ConfigError(f"{what} must be a non-empty list of task sets or task names", where=where)
    out: list[str] = []
    for entry in entries:
        if entry in seen:
            raise ConfigError(f"task set {entry!r} includes itself", where=where)
        found = _tasks(task_sets[entry], task_sets, where, what, (*seen, entry)) if entry in task_sets else [entry]
        out.extend(t for t in found if t not in out)
    return out


def _name(name, where: str) -> str:
    if not isinstance(name, str) or not _NAME.match(name) or name.endswith(".eval"):
        raise ConfigError(f"bad model/stage name {name!r}", where=where, fix="use letters, digits, '.', '_' and '-' (not ending in .eval)")
    return name


def load_study(path: str | Path, runs: str | Path | None = None, leaderboard: str | Path | None = None) -> Study:
    raw = read_yaml(Path(path))
    file = Path(raw.pop("__file__"))
    check_keys(raw, TOP_KEYS, str(file), "study")
    return study_from_values(raw, file, runs, leaderboard)


def study_from_values(raw: dict, file: Path, runs=None, leaderboard=None) -> Study:
    where, base = str(file), file.parent
    name = raw.get("name")
    if not isinstance(name, str) or not _NAME.match(name):
        raise ConfigError("the study needs a `name` (letters, digits, . _ -)", where=where)
    task_sets = raw.get("task_sets") or {}
    if not isinstance(task_sets, dict) or not all(isinstance(v, list) and v and all(isinstance(t, str) for t in v) for v in task_sets.values()):
        raise ConfigError("task_sets must map names to non-empty lists of task names", where=where)
    eval_defaults = _eval_settings(raw.get("eval"), where, "eval")
    nodes: dict[str, Node] = {}

    def add(node: Node) -> None:
        if node.name in nodes:
            raise ConfigError(f"name {node.name!r} is used twice (models and stages share one namespace)", where=where)
        nodes[node.name] = node

    for mname, spec in (raw.get("models") or {}).items():
        mwhere = f"{where}: models.{mname}"
        _name(mname, mwhere)
        spec = spec or {}
        check_keys(spec, MODEL_KEYS, mwhere, f"models.{mname}")
        if bool(spec.get("path")) == bool(spec.get("build")):
            raise ConfigError(f"model {mname!r} needs exactly one of `path` (checkpoint folder or hub id) or `build: tiny`", where=mwhere)
        if spec.get("build") and spec["build"] not in BUILDERS:
            raise ConfigError(f"model {mname!r}: unknown build {spec['build']!r}", where=mwhere, fix=f"use one of: {', '.join(BUILDERS)}")
        path = spec.get("path")
        if path and (str(path).startswith((".", "/", "~", "$"))):
            path = str(_path(path, base, mwhere, "path"))
        stage = spec.get("stage")
        if stage is not None and stage not in ("base", "sft", "rl"):
            raise ConfigError(f"model {mname!r}: stage must be base, sft or rl, got {stage!r}", where=mwhere)
        add(Node(mname, "model", path=path, build=spec.get("build"), lineage_parent=spec.get("parent"), stage=stage,
                 trained_on=list(spec.get("trained_on") or [])))
        if spec.get("eval"):
            add(Node(f"{mname}.eval", "eval", parent=mname, tasks=_tasks(spec["eval"], task_sets, mwhere, "eval"),
                     eval_settings=_eval_settings(spec.get("eval_settings"), mwhere, "eval_settings")))

    for sname, spec in (raw.get("stages") or {}).items():
        swhere = f"{where}: stages.{sname}"
        _name(sname, swhere)
        spec = spec or {}
        check_keys(spec, STAGE_KEYS, swhere, f"stages.{sname}")
        kind = spec.get("kind")
        if kind not in STAGE_KINDS:
            raise ConfigError(f"stage {sname!r}: kind must be one of {', '.join(STAGE_KINDS)}, got {kind!r}", where=swhere)
        if kind == "eval":
            if "from" in spec or "config" in spec:
                raise ConfigError(f"eval stage {sname!r} takes `model` and `tasks`, not from/config", where=swhere)
            add(Node(sname, "eval", parent=spec.get("model"), tasks=_tasks(spec.get("tasks"), task_sets, swhere, "tasks"),
                     eval_settings=_eval_settings(spec.get("eval_settings"), swhere, "eval_settings")))
            continue
        if not spec.get("from") or not spec.get("config"):
            raise ConfigError(f"training stage {sname!r} needs `from` (a model or stage) and `config` (a training YAML)", where=swhere)
        config = _path(spec["config"], base, swhere, "config")
        if not config.is_file():
            raise ConfigError(f"training config not found: {config}", where=swhere, fix="paths in a study are relative to the study file")
        overrides = spec.get("set") or {}
        if not isinstance(overrides, dict):
            raise ConfigError("`set` must map config keys to values (data.KEY for the data section)", where=swhere)
        for key in ("model", "output_dir"):
            if key in overrides:
                raise ConfigError(f"stage {sname!r}: `set: {key}` is decided by the study (from / the stage folder)", where=swhere)
        launch = spec.get("launch")
        if launch is not None:
            check_keys(launch, LAUNCH_KEYS, swhere, "launch")
            if launch.get("accelerate_config"):
                launch = {**launch, "accelerate_config": _path(launch["accelerate_config"], base, swhere, "launch.accelerate_config")}
        guard = spec.get("guard")
        if guard is not None and (kind == "sft" or guard not in GUARDS):
            raise ConfigError(f"stage {sname!r}: guard must be one of {', '.join(GUARDS)} on a grpo / grpo_care stage, got {guard!r}", where=swhere)
        add(Node(sname, "sft" if kind == "sft" else "grpo", parent=spec["from"], config=config, overrides=dict(overrides),
                 use_care=None if kind == "sft" else kind == "grpo_care", launch=launch, guard=guard))
        if spec.get("eval"):
            add(Node(f"{sname}.eval", "eval", parent=sname, tasks=_tasks(spec["eval"], task_sets, swhere, "eval"),
                     eval_settings=_eval_settings(spec.get("eval_settings"), swhere, "eval_settings")))

    if not nodes:
        raise ConfigError("the study has no models", where=where, fix="name a checkpoint under models: (path: or build: tiny)")
    _check_graph(nodes, where)
    runs_dir = Path(runs) if runs is not None else Path(raw.get("runs") or f"runs/study-{name}")
    board = Path(leaderboard) if leaderboard is not None else Path(raw.get("leaderboard") or runs_dir / "leaderboard")
    return Study(name, file, runs_dir, board, _data(raw.get("data") or {}, base, where), eval_defaults, _ordered(nodes), str(raw.get("description") or ""))


def _check_graph(nodes: dict[str, Node], where: str) -> None:
    for node in nodes.values():
        if node.kind == "model":
            continue
        if node.parent is None:
            raise ConfigError(f"stage {node.name!r} names no model", where=where)
        parent = nodes.get(node.parent)
        if parent is None:
            raise ConfigError(f"stage {node.name!r} starts from unknown {node.parent!r}{_hint(node.parent, nodes)}", where=where,
                              fix="name a model under models: or a training stage")
        if parent.kind == "eval":
            raise ConfigError(f"stage {node.name!r} starts from evaluation stage {parent.name!r}", where=where, fix="start from a model or a training stage")
    for node in nodes.values():
        seen, current = {node.name}, node
        while current.parent is not None:
            if current.parent in seen:
                raise ConfigError(f"stages form a cycle: {' -> '.join([*seen, current.parent])}", where=where)
            seen.add(current.parent)
            current = nodes[current.parent]


def _ordered(nodes: dict[str, Node]) -> dict[str, Node]:
    """Parents before children; otherwise the order of the file."""
    out: dict[str, Node] = {}

    def visit(node: Node) -> None:
        if node.name in out:
            return
        if node.parent is not None:
            visit(nodes[node.parent])
        out[node.name] = node

    for node in nodes.values():
        visit(node)
    return out

