"""Resolve task names through lmms-eval's TaskManager and check task YAMLs before a run.

lmms-eval reports an unknown YAML key as a bare ``TypeError`` from ``TaskConfig(**config)``
with no file name, and an unknown task name only after the model is loaded; both are checked
here first so the user gets one line naming the file or the name.

Indexing lmms-eval's ~2,000 built-in YAMLs takes seconds. When every requested name is a
medbridge task or in the user's include folders (:func:`local_tasks`, no lmms-eval import),
the TaskManager indexes only those folders; any other name gets the full index.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
from pathlib import Path

from ..errors import ConfigError

# Keys lmms-eval consumes outside TaskConfig.
_LOADER_KEYS = {"include", "class"}


def local_tasks(names: list[str], include_path: list[str] | None = None) -> dict[str, dict] | None:
    """``{runnable task: its YAML config}`` for what ``names`` stand for (groups expanded, order
    kept) when medbridge's folder and ``include_path`` define all of it, else None. Reads the
    YAMLs without lmms-eval, so it can run before anything heavy is imported."""
    from .discovery import tasks_dir
    from .task_files import local_index, members, read_task_yaml

    index = local_index(include_path, tasks_dir())
    leaves: list[str] = []
    for name in names:
        found = members(name, index)
        if found is None:
            return None
        leaves.extend(t for t in found if t not in leaves)
    return {task: read_task_yaml(index[task]["yaml_path"]) for task in leaves}


def task_manager(include_path=None, local: bool = False):
    """lmms-eval's TaskManager with medbridge's tasks; with ``local``, only medbridge's folder
    and the include folders are indexed (no built-ins: seconds faster)."""
    from lmms_eval.tasks import TaskManager

    from .discovery import install_exact_stderr, install_task_discovery

    install_task_discovery()  # the entry point normally did this already; idempotent
    install_exact_stderr()
    return TaskManager("ERROR", include_path=include_path, include_defaults=not local)


def _task_config_keys() -> set[str]:
    from lmms_eval.api.task import TaskConfig

    return {f.name for f in dataclasses.fields(TaskConfig)} | _LOADER_KEYS


def _group_config_keys() -> set[str]:
    from lmms_eval.api.group import GroupConfig

    return set(GroupConfig().to_dict().keys()) | set(GroupConfig.__annotations__) | _LOADER_KEYS


def load_yaml(path: str) -> dict:
    from lmms_eval import utils

    try:
        return utils.load_yaml_config(path, mode="simple")
    except FileNotFoundError as exc:
        raise ConfigError(f"included YAML not found: {exc.filename}", where=path, fix="fix the `include:` path (it is relative to the including file)") from exc
    except Exception as exc:
        raise ConfigError(f"cannot read task YAML ({exc})", where=path) from exc


def check_yaml_keys(path: str) -> None:
    """Raise ConfigError naming the file when a task or group YAML has an unknown key."""
    config = load_yaml(path)
    is_group = isinstance(config.get("task"), list)
    allowed = _group_config_keys() if is_group else _task_config_keys()
    unknown = sorted(set(config) - allowed)
    if unknown:
        hints = []
        for key in unknown:
            close = difflib.get_close_matches(key, sorted(allowed), n=1)
            hints.append(f"{key!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
        raise ConfigError(
            f"unknown key {', '.join(hints)} in task YAML",
            where=path,
            fix="lmms-eval rejects keys outside its TaskConfig; remove or rename it",
        )


def _scored_by_medbridge(config: dict) -> bool:
    """Whether a task YAML (loaded in lmms-eval's "simple" mode, ``!function`` left as YAML
    nodes) names one of medbridge's process_results."""
    node = str(getattr(config.get("process_results"), "value", config.get("process_results")))
    return node.startswith(("medbridge.harness.lmms.hooks.", "medbridge.harness.lmms.open_hooks."))


def task_config(path: str):
    """Build the lmms-eval ``TaskConfig`` of a task YAML as lmms-eval will (medbridge's scoring
    rules included, see ``task_scoring``); a refused setting names the file."""
    from lmms_eval import utils
    from lmms_eval.api.task import TaskConfig

    from . import hooks  # noqa: F401  (installs task_scoring, as resolving the YAML would)

    try:
        return TaskConfig(**utils.load_yaml_config(path, mode="full"))
    except ConfigError as exc:
        raise ConfigError(exc.what, where=path, fix=exc.fix) from exc


def check_task_config(path: str) -> None:
    """Refuse, before any model is loaded, a medbridge-scored task whose settings cannot be scored
    (e.g. ``repeats: 0``, a filter that drops samples, ``repeats`` on a greedy task)."""
    if _scored_by_medbridge(load_yaml(path)):
        task_config(path)


def resolve(names: list[str], manager) -> list[str]:
    """Check every requested name exists (task, group or tag); suggest close names if not."""
    missing = [n for n in names if n not in manager.all_tasks]
    if missing:
        parts = []
        for name in missing:
            close = difflib.get_close_matches(name, manager.all_tasks, n=3)
            parts.append(f"{name!r}" + (f" (did you mean {', '.join(close)}?)" if close else ""))
        raise ConfigError(f"unknown task {'; '.join(parts)}", fix="`medbridge tasks list` shows medbridge's tasks")
    return names


def leaf_tasks(name: str, manager) -> list[str]:
    """The runnable tasks a name stands for (groups and tags expanded, order kept)."""
    entry = manager.task_index[name]
    if entry["type"] in ("task", "python_task"):
        return [name]
    if entry["type"] == "tag":
        members = entry["task"]
    else:
        members = load_yaml(entry["yaml_path"]).get("task", [])
    out = []
    for member in members:
        if isinstance(member, str) and member in manager.task_index:
            out.extend(t for t in leaf_tasks(member, manager) if t not in out)
    return out


def check_tasks(names: list[str], manager) -> list[str]:
    """Resolve names, check every YAML involved, return the leaf tasks."""
    resolve(names, manager)
    leaves: list[str] = []
    for name in names:
        path = manager.task_index[name].get("yaml_path")
        if isinstance(path, str):
            check_yaml_keys(path)
        for leaf in leaf_tasks(name, manager):
            if leaf not in leaves:
                check_yaml_keys(manager.task_index[leaf]["yaml_path"])
                check_task_config(manager.task_index[leaf]["yaml_path"])
                leaves.append(leaf)
    return leaves


def medbridge_source(config: dict) -> str | None:
    """The harness source a task's one-line source file names, or None for other tasks."""
    files = (config.get("dataset_kwargs") or {}).get("data_files")
    if config.get("dataset_path") != "json" or not isinstance(files, dict):
        return None
    # any of its data files names the source: a test_split with no data file of its own is then
    # refused by the source, naming the splits it has, instead of by `datasets` after the model loads
    path = files.get(config.get("test_split", "test")) or next(iter(files.values()), None)
    if not isinstance(path, str) or not Path(path).is_file():
        return None
    try:
        first = Path(path).read_text().splitlines()[0]
        return json.loads(first).get("medbridge_source")
    except (IndexError, ValueError, AttributeError):
        return None
