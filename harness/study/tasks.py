"""medbridge's task YAMLs as data: what a task name reads (for stage keys), and derived tasks.

Reads the YAMLs with lmms-eval's own loader (``task_index.load_yaml``) without building a
TaskManager, so a dry run stays quick. A name that is not one of medbridge's tasks or groups
(e.g. from a user's include folder) is keyed by its name alone.

Derived tasks are the "add a task = add a YAML" rule done for the user: a YAML that includes a
shipped task and changes its split (``val`` for the recipe's diagnosis, ``train`` for pass-rate
selection) and, for ``_passk`` tasks, the number of samples.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import yaml

from ..atomic_write import write_text_atomic
from ..errors import ConfigError


@lru_cache(maxsize=1)
def local_index() -> dict[str, str]:
    """``{task or group name: yaml path}`` for medbridge's own task folder."""
    from medbridge.tasks import TASKS_DIR

    from ..lmms.task_index import load_yaml

    index = {}
    for path in sorted(Path(TASKS_DIR).rglob("*.yaml")):
        if path.name.startswith("_"):
            continue
        config = load_yaml(str(path))
        name = config.get("group") or config.get("task")
        if isinstance(name, str):
            index[name] = str(path)
    return index


def _config(name: str) -> dict | None:
    from ..lmms.task_index import load_yaml

    path = local_index().get(name)
    return load_yaml(path) if path else None


def leaves(name: str) -> list[str]:
    """The runnable tasks of a medbridge task or group name ([name] when it is not ours)."""
    config = _config(name)
    if config is None or not isinstance(config.get("task"), list):
        return [name]
    out: list[str] = []
    for member in config["task"]:
        if isinstance(member, str):
            out.extend(t for t in leaves(member) if t not in out)
    return out


def task_source(task: str) -> tuple[str, str, str] | None:
    """(source, dataset_name, split) of one of medbridge's runnable tasks, else None."""
    from ..lmms.task_index import medbridge_source

    config = _config(task)
    if config is None:
        return None
    source = medbridge_source(config)
    if source is None:
        return None
    return source, str(config.get("dataset_name")), str(config.get("test_split", "test"))


def is_passk(task: str) -> bool:
    config = _config(task)
    return bool(config and int(config.get("repeats") or 1) > 1)


def derive(task: str, folder: Path, *, split: str | None = None, repeats: int | None = None, suffix: str | None = None) -> str:
    """Write ``<folder>/<new task>.yaml``: ``task`` on another split and/or with another number of
    samples (``_passk`` tasks only); return the new task's name. lmms-eval finds it through
    ``include_path=[folder]``."""
    config = _config(task)
    if config is None:
        raise ConfigError(f"{task!r} is not one of medbridge's tasks", fix="`medbridge tasks list` shows them; derived splits need one of them")
    if isinstance(config.get("task"), list):
        raise ConfigError(f"{task!r} is a group; name its tasks", fix=f"e.g. {', '.join(leaves(task)[:3])}")
    if repeats is not None and int(config.get("repeats") or 1) == 1:
        raise ConfigError(f"{task!r} is a greedy task: it has no samples to change", fix=f"use its Pass@K twin ({task}_passk)")
    tail = suffix or split
    # keep `_passk` last: diagnosis pairs X with X_passk
    name = f"{task.removesuffix('_passk')}_{tail}_passk" if task.endswith("_passk") else f"{task}_{tail}"
    out = {"include": local_index()[task], "task": name}
    if split is not None:
        files = dict((config.get("dataset_kwargs") or {}).get("data_files") or {})
        if not files:
            raise ConfigError(f"{task!r} does not read a medbridge source", fix="derived splits work for medbridge's MedMNIST and VQA tasks")
        source_file = next(iter(files.values()))
        out["test_split"] = split
        out["dataset_kwargs"] = {**(config.get("dataset_kwargs") or {}), "data_files": {split: source_file}}
    if repeats is not None:
        out["repeats"] = int(repeats)
        # a filter that keeps the first k samples must keep all n of them
        filters = config.get("filter_list") or []
        if any(step.get("function") == "take_first_k" for f in filters for step in f.get("filter", [])):
            out["filter_list"] = [{**f, "filter": [{**step, "k": int(repeats)} if step.get("function") == "take_first_k" else step for step in f.get("filter", [])]}
                                  for f in filters]
    folder.mkdir(parents=True, exist_ok=True)
    write_text_atomic(folder / f"{name}.yaml", yaml.safe_dump(out, sort_keys=False))
    return name


@lru_cache(maxsize=1)
def tasks_folder_fingerprint() -> str:
    """Every shipped task YAML and template: a change to a prompt or a metric reruns evaluations."""
    from medbridge.tasks import TASKS_DIR

    from .keys import folder_fingerprint

    return folder_fingerprint(TASKS_DIR)
