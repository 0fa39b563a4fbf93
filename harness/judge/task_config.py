"""Which judge mode and prompt a task uses, read from its YAML's ``metadata``.

lmms-eval's ``TaskConfig`` rejects unknown top-level keys, but ``metadata`` is a free dict that
it accepts (and merges into every request's metadata); medbridge reads two keys from it:

    metadata:
      version: 1.0
      judge_mode: fallback          # off | fallback | all (MCQ tasks)
      judge_template: judge_mcq.jinja

``process_results`` is not told which task it scores, so the hooks ask lmms-eval's task
context (``usage_metrics.set_task_context``, which the evaluator sets before each task's
postprocessing so judges can attribute their usage) and find that task's YAML through the
index medbridge records while lmms-eval builds it (``lmms.discovery.TASK_YAMLS``). A run-wide mode
(``MEDBRIDGE_JUDGE_MODE`` / ``medbridge eval --judge-mode``) overrides the YAML's.
"""

from __future__ import annotations

import sys
from functools import cache

from ..errors import ConfigError
from .settings import check_mode, run_mode

_KEYS = ("judge_mode", "judge_template")


def current_task() -> str | None:
    """The task lmms-eval is scoring now (None outside lmms-eval's postprocessing)."""
    usage_metrics = sys.modules.get("lmms_eval.models.model_utils.usage_metrics")  # loaded by lmms-eval's evaluator
    return getattr(usage_metrics, "_CURRENT_TASK_CONTEXT", None)


@cache
def task_metadata(task: str | None, yaml_path: str | None = None) -> dict:
    """The judge keys of a task's ``metadata`` (empty when the task is unknown or sets none)."""
    if yaml_path is None:
        from ..lmms.discovery import TASK_YAMLS

        yaml_path = TASK_YAMLS.get(task or "")
    if not yaml_path:
        return {}
    from ..lmms.task_index import load_yaml

    metadata = load_yaml(yaml_path).get("metadata")
    if not isinstance(metadata, dict):
        return {}
    out = {k: metadata[k] for k in _KEYS if metadata.get(k) is not None}
    if "judge_mode" in out:
        out["judge_mode"] = check_mode(out["judge_mode"], f"metadata.judge_mode in {yaml_path}")
    if "judge_template" in out and not isinstance(out["judge_template"], str):
        raise ConfigError("metadata.judge_template must be a template file name", where=yaml_path)
    return out


def mcq_mode(task: str | None = None, yaml_path: str | None = None) -> str:
    """The run's mode if one is set, else the task's ``metadata.judge_mode``, else ``off``."""
    return run_mode() or task_metadata(task if task is not None else current_task(), yaml_path).get("judge_mode", "off")


def template_for(default: str, task: str | None = None, yaml_path: str | None = None) -> str:
    return task_metadata(task if task is not None else current_task(), yaml_path).get("judge_template", default)
