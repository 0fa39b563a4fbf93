"""Declarative studies (``medbridge study run``) and the boundary-aware recipe (``medbridge recipe``).

A study names models, training stages (SFT, GRPO, GRPO-CARE) with their parents, and the
tasks each is evaluated on; every stage's folder is keyed by the content of its inputs, so
finished stages are reused and an edit reruns only what depends on it; the evaluations end in a
leaderboard with the lineage of every row. This package drives evaluation (lmms-eval) and
training; training is imported only when a training stage runs.
"""

from .runner import Outcome, run_study
from .spec import Study, load_study

__all__ = ["Outcome", "Study", "load_study", "run_study"]
