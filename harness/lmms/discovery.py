"""medbridge's hook into lmms-eval: flag-free task discovery, exact metric standard errors and
model registration.

lmms-eval has no entry point for tasks, and its ``LMMS_EVAL_PLUGINS`` path appends plugin task
folders only after the CLI has built its task index (so it fails). It does load the
``lmms_eval.models`` entry-point group while ``lmms_eval.models`` is imported, which happens
before the CLI builds its ``TaskManager``. :func:`lmms_eval_models` is registered there: it
wraps ``TaskManager.initialize_tasks`` so every task index also holds medbridge's tasks/ folder.

This touches a private method, so it is kept to one small wrapper, is idempotent, and can be
switched off with ``MEDBRIDGE_NO_AUTO_TASKS=1`` (then pass ``--include_path`` yourself; see
``medbridge tasks path``).

Standard errors: medbridge's tasks aggregate with ``metrics.exact_mean`` (exact sums, so one and
N processes agree to the last bit). lmms-eval computes a standard error only for the
aggregation functions it knows (``stderr_for_metric`` looks them up by identity), so
:func:`install_exact_stderr` teaches it ``metrics.exact_stderr`` for that one function and
leaves every other lookup to lmms-eval.

Name clashes: lmms-eval's own merge lets built-in tasks shadow included ones. For medbridge's
tasks the opposite is wanted (``slake`` must mean our MCQ task), so a built-in of the same
name is replaced and one log line says so. Tasks from a user's own ``--include_path`` still
win over medbridge's.
"""

from __future__ import annotations

import atexit
import os
from pathlib import Path

from loguru import logger as log  # lmms-eval's logger, so our lines read like its own

_announced: set[str] = set()
_include_ours = False
# task name -> its YAML, for every task any TaskManager indexed in this process: the judge hooks
# read a task's ``metadata`` (judge_mode, judge_template) through it (harness/judge/task_config.py)
TASK_YAMLS: dict[str, str] = {}


def tasks_dir() -> Path:
    from medbridge.tasks import TASKS_DIR

    return TASKS_DIR


def _builtin_dir() -> str:
    import lmms_eval.tasks

    return os.path.dirname(os.path.abspath(lmms_eval.tasks.__file__))


def merge_task_index(index: dict, ours: dict, builtin_dir: str) -> tuple[dict, list[str]]:
    """Add ``ours`` to ``index``; ours replace built-ins of the same name (returned), but not
    tasks from a user's include path."""
    merged, replaced = dict(index), []
    for name, entry in ours.items():
        current = merged.get(name)
        if current is None:
            merged[name] = entry
            continue
        path = current.get("yaml_path")
        if isinstance(path, str) and os.path.abspath(path).startswith(builtin_dir + os.sep):
            merged[name] = entry
            replaced.append(name)
    return merged, replaced


def install_task_discovery(include_ours: bool = True) -> None:
    """Make every lmms-eval TaskManager index medbridge's tasks (``include_ours``) and record
    where each indexed task's YAML is. Safe to call repeatedly."""
    from lmms_eval.tasks import TaskManager

    from . import yaml_memo

    yaml_memo.install()
    global _include_ours
    _include_ours = _include_ours or include_ours
    if getattr(TaskManager.initialize_tasks, "_medbridge", False):
        return
    original = TaskManager.initialize_tasks

    def initialize_tasks(self, include_path=None, include_defaults=True):
        index = original(self, include_path=include_path, include_defaults=include_defaults)
        if _include_ours:
            ours = self._get_task_and_group(str(tasks_dir()))
            index, replaced = merge_task_index(index, ours, _builtin_dir())
            for name in replaced:
                if name not in _announced:
                    _announced.add(name)
                    log.warning(f"medbridge: task {name!r} replaces lmms-eval's built-in task of the same name")
        TASK_YAMLS.update({name: entry["yaml_path"] for name, entry in index.items() if isinstance(entry.get("yaml_path"), str)})
        return index

    initialize_tasks._medbridge = True
    TaskManager.initialize_tasks = initialize_tasks


def install_exact_stderr() -> None:
    """Let lmms-eval report ``metrics.exact_stderr`` for ``metrics.exact_mean``. Idempotent."""
    import lmms_eval.evaluator_utils as evaluator_utils

    from ..metrics import exact_mean, exact_stderr

    if getattr(evaluator_utils.stderr_for_metric, "_medbridge", False):
        return
    original = evaluator_utils.stderr_for_metric

    def stderr_for_metric(metric, bootstrap_iters: int):
        if metric is exact_mean:
            return exact_stderr if bootstrap_iters > 0 else None  # 0 iterations: no stderr, as lmms-eval
        return original(metric=metric, bootstrap_iters=bootstrap_iters)

    stderr_for_metric._medbridge = True
    evaluator_utils.stderr_for_metric = stderr_for_metric


_exit_registered = False


def lmms_eval_models():
    """Entry point of group ``lmms_eval.models``: installs task discovery and exact standard
    errors, returns our models (class paths only: nothing heavy is imported until lmms-eval
    asks for a model)."""
    try:
        install_exact_stderr()
    except Exception as exc:  # never break lmms-eval's model registry because of us
        log.warning(f"medbridge: exact standard errors not installed ({exc}); medbridge tasks will show stderr N/A")
    global _exit_registered
    if not _exit_registered:  # the lmms-eval CLI exits as fast as medbridge's (host.skip_exit_collections)
        from ..host import skip_exit_collections

        atexit.register(skip_exit_collections)
        _exit_registered = True
    try:
        install_task_discovery(include_ours=os.environ.get("MEDBRIDGE_NO_AUTO_TASKS") != "1")
    except Exception as exc:  # never break lmms-eval's model registry because of us
        log.warning(f"medbridge: task discovery not installed ({exc}); use --include_path {tasks_dir()}")
    from lmms_eval.models.registry_v2 import ModelManifest

    return [
        ModelManifest(model_id="medbridge_hf", chat_class_path="medbridge.harness.backends.hf.MedbridgeHF"),
        ModelManifest(model_id="medbridge_vllm", chat_class_path="medbridge.harness.backends.vllm_backend.MedbridgeVLLM"),
        ModelManifest(model_id="medbridge_openai", chat_class_path="medbridge.harness.backends.openai_backend.MedbridgeOpenAI"),
    ]
