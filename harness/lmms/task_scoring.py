"""What a medbridge task's settings mean for its scoring, applied when lmms-eval builds the task.

lmms-eval fixes a task's metrics from the YAML's ``metric_list`` and reports a key that
``process_results`` returns but the list lacks as ``"metric,filter": []``. A Pass@K task's
metrics depend on its ``repeats`` (pass@k for every power of two k <= n, and n itself), which
YAML cannot compute, so "repeats is the one knob" needs a hook: lmms-eval has none between
reading a task's YAML and fixing its metrics, so :func:`install` wraps
``TaskConfig.__post_init__`` (a dataclass hook, run once per task). For a task scored by
medbridge's ``greedy_results`` / ``passk_results`` (``hooks``, MCQ; ``open_hooks``,
open-ended) it

- writes the pass@k lines of ``metric_list`` from ``repeats`` (other lines stay as listed),
- refuses settings that cannot be scored (``repeats`` < 1, a filter that drops samples,
  ``repeats`` on a greedy task), naming the task, and
- binds ``process_results`` to the task (:class:`TaskScorer`): it knows n, refuses a question
  with another number of samples, and returns only the metrics the task lists.

Every other task is left exactly as lmms-eval built it. ``medbridge eval`` builds the same
configs before loading a model (``task_index.check_task_configs``), so these errors come first.
"""

from __future__ import annotations

import re

from ..errors import ConfigError
from ..metrics import exact_mean, pass_ks

_PASS_METRIC = re.compile(r"^pass@\d+$")
# lmms-eval filters that hand process_results one sample per question instead of all n
_ONE_SAMPLE_FILTERS = ("take_first", "majority_vote")
_PASSK_BASE = "tasks/_mcq_passk.yaml"


class TaskScorer:
    """``process_results`` bound to one task: ``kind`` is ``greedy`` or ``passk``, ``score`` the
    medbridge hook that grades (MCQ or open-ended)."""

    def __init__(self, kind: str, score, task: str, n: int, metrics: list[str]):
        self.kind, self.score, self.task, self.n, self.metrics = kind, score, task, n, frozenset(metrics)

    def __call__(self, doc, results, **_):
        if self.kind == "passk" and len(results) != self.n:
            raise ConfigError(
                f"got {len(results)} samples for a question of task {self.task}, which sets repeats: {self.n}",
                fix="set the number of samples with `repeats:` in the task YAML (lmms-eval's --repeats and sample-dropping filters are not supported for pass@k)",
            )
        return {key: value for key, value in self.score(doc, results).items() if key in self.metrics}

    def __repr__(self) -> str:  # what lmms-eval's results.json shows as the task's process_results
        return f"{self.score.__module__}.{self.score.__name__}(n={self.n})"


def _hooks() -> dict:
    """medbridge's process_results hooks and what they score (MCQ and open-ended tasks)."""
    from . import hooks, open_hooks

    return {hooks.greedy_results: "greedy", hooks.passk_results: "passk", open_hooks.greedy_results: "greedy", open_hooks.passk_results: "passk"}


def _kind(process_results) -> str | None:
    if isinstance(process_results, TaskScorer):
        return process_results.kind
    return _hooks().get(process_results) if callable(process_results) else None


def _check_filters(filter_list, task: str, n: int) -> None:
    if not filter_list:
        raise ConfigError(f"Pass@K task {task} has no filter_list, so lmms-eval would hand one of its {n} samples to the grader",
                          fix=f"include {_PASSK_BASE}, whose filter hands all n samples over")
    for entry in filter_list:
        for step in entry.get("filter") or []:
            function = step.get("function")
            if function == "take_first_k" and step.get("k") != n:
                raise ConfigError(f"task {task}: filter take_first_k with k={step.get('k')} does not match repeats: {n}",
                                  fix=f"remove filter_list from the task: {_PASSK_BASE} hands all n samples to the grader")
            if function in _ONE_SAMPLE_FILTERS:
                raise ConfigError(f"task {task}: filter {function} hands one sample per question to a Pass@K task",
                                  fix=f"remove filter_list from the task: {_PASSK_BASE} hands all n samples to the grader")


def bind_scoring(config) -> None:
    """Apply the rules of the module docstring to one lmms-eval ``TaskConfig`` (in place)."""
    kind = _kind(config.process_results)
    if kind is None:
        return
    task, n = config.task, config.repeats
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ConfigError(f"task {task}: repeats must be a whole number >= 1, got {n!r}", fix="e.g. `repeats: 8` (samples per question)")
    listed = list(config.metric_list or [])
    if kind == "greedy":
        if n != 1:
            raise ConfigError(f"task {task}: repeats: {n} on a greedy task would generate {n} answers and grade only the first",
                              fix=f"for pass@k include {_PASSK_BASE} first (`include: [.../_mcq_passk.yaml, <your greedy task>.yaml]`)")
    else:
        _check_filters(config.filter_list, task, n)
        # exact sums, as the YAMLs' other lines: one and N processes agree to the last bit
        derived = [{"metric": f"pass@{k}", "aggregation": exact_mean, "higher_is_better": True} for k in pass_ks(n)]
        listed = derived + [m for m in listed if not _PASS_METRIC.match(str(m.get("metric")))]
        config.metric_list = listed
    score = config.process_results.score if isinstance(config.process_results, TaskScorer) else config.process_results
    config.process_results = TaskScorer(kind, score, task, n, [str(m.get("metric")) for m in listed])


def install() -> None:
    """Wrap lmms-eval's ``TaskConfig.__post_init__`` once (idempotent)."""
    from lmms_eval.api.task import TaskConfig

    original = TaskConfig.__post_init__
    if getattr(original, "_medbridge", False):
        return

    def __post_init__(self) -> None:
        original(self)
        bind_scoring(self)

    __post_init__._medbridge = True
    TaskConfig.__post_init__ = __post_init__
