"""medbridge's task folders read without importing lmms-eval (which imports torch, transformers
and ``evaluate``: seconds before the first line of output).

``medbridge tasks list`` and the checks ``medbridge eval`` runs before anything heavy (task
names, the data each task reads) need only which YAML defines which name and what a YAML says
after its ``include:``s. These two functions give exactly that, with lmms-eval's rules
(``lmms_eval.utils.load_yaml_config`` in "simple" mode and ``TaskManager._get_task_and_group``
of lmms-eval 0.7.3; ``tests/test_task_files.py`` checks both agree on every shipped YAML). They
are written here, not imported, only because importing lmms-eval's copies costs seconds;
everything that runs a task still goes through lmms-eval's own loader.
"""

from __future__ import annotations

import os
from functools import lru_cache

import yaml

_LOCAL_BUILDERS = {"csv", "json", "parquet", "text", "pandas", "arrow"}


class _Loader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):
    """Safe YAML with ``!function x.y`` kept as the string ``"x.y"`` (never imported here)."""


_Loader.add_constructor("!function", lambda loader, node: loader.construct_scalar(node))


def _resolve_data_files(value, folder: str):
    # lmms-eval anchors relative data_files of local builders at the YAML's folder when the file exists
    if isinstance(value, str):
        if value and not os.path.isabs(value) and "://" not in value and os.path.isfile(os.path.join(folder, value)):
            return os.path.join(folder, value)
        return value
    if isinstance(value, dict):
        return {k: _resolve_data_files(v, folder) for k, v in value.items()}
    if isinstance(value, list):
        return [_resolve_data_files(v, folder) for v in value]
    return value


@lru_cache(maxsize=512)
def _read(path: str, mtime: float) -> dict:
    with open(path, "rb") as f:
        return yaml.load(f, Loader=_Loader) or {}


def read_task_yaml(path: str | os.PathLike) -> dict:
    """A task or group YAML with its includes merged (the includer wins; of several includes
    the first wins) and local ``data_files`` made absolute, as lmms-eval reads it."""
    path = str(path)
    config = dict(_read(path, os.path.getmtime(path)))
    folder = os.path.dirname(path)
    includes = config.pop("include", None)
    if includes is not None:
        merged: dict = {}
        for include in reversed([includes] if isinstance(includes, str) else list(includes)):
            target = include if os.path.isfile(include) else os.path.join(folder, include)
            merged.update(read_task_yaml(target))
        merged.update(config)
        config = merged
    kwargs = config.get("dataset_kwargs")
    if config.get("dataset_path") in _LOCAL_BUILDERS and isinstance(kwargs, dict) and "data_files" in kwargs:
        config["dataset_kwargs"] = {**kwargs, "data_files": _resolve_data_files(kwargs["data_files"], folder)}
    return config


def index_folder(folder: str | os.PathLike) -> dict[str, dict]:
    """``{name: {"type": task|group|tag|python_task, "yaml_path": ..., ("task": [...])}}`` for
    every YAML under ``folder``, as lmms-eval's task index has it."""
    index: dict[str, dict] = {}
    for root, dirs, files in os.walk(folder):
        dirs[:] = [d for d in dirs if d not in ("__pycache__", ".ipynb_checkpoints")]
        for name in files:  # lmms-eval's walk order, so a name defined twice resolves alike
            if not name.endswith(".yaml"):
                continue
            path = os.path.join(root, name)
            config = read_task_yaml(path)
            task = config.get("task")
            if "class" in config:
                index[task] = {"type": "python_task", "yaml_path": path}
            elif isinstance(task, list):
                if "group" in config:
                    index[config["group"]] = {"type": "group", "task": -1, "yaml_path": path}
            elif isinstance(task, str):
                index[task] = {"type": "task", "yaml_path": path}
                for attr in ("tag", "group"):
                    tags = config.get(attr) or []
                    for tag in [tags] if isinstance(tags, str) else tags:
                        entry = index.setdefault(tag, {"type": "tag", "task": [], "yaml_path": -1})
                        if entry["type"] == "tag":
                            entry["task"].append(task)
    return index


def local_index(include_path: list[str] | None, tasks_dir: str | os.PathLike) -> dict[str, dict]:
    """medbridge's tasks plus the user's include folders, with lmms-eval's precedence (an
    include folder wins over medbridge's, an earlier one over a later one): the index
    ``medbridge eval`` uses when every requested name is in it."""
    index = index_folder(tasks_dir)
    for folder in reversed(include_path or []):
        index.update(index_folder(folder))
    return index


def members(name: str, index: dict[str, dict]) -> list[str] | None:
    """The runnable tasks ``name`` stands for (groups and tags expanded, order kept), or None
    when a member is not in ``index`` (then only lmms-eval's full index can say)."""
    entry = index.get(name)
    if entry is None:
        return None
    if entry["type"] in ("task", "python_task"):
        return [name]
    listed = entry["task"] if entry["type"] == "tag" else read_task_yaml(entry["yaml_path"]).get("task", [])
    out: list[str] = []
    for member in listed:
        if not isinstance(member, str):
            return None  # an inline task config: lmms-eval's loader handles those
        leaves = members(member, index)
        if leaves is None:
            return None
        out.extend(t for t in leaves if t not in out)
    return out
