"""The functions medbridge's task YAMLs name with ``!function`` (lmms-eval's hook points).

How a task reaches data (the reasoning is in CONTRIBUTING.md):
a task's ``dataset_path: json`` points at a one-line source file shipped beside the YAMLs
(``{"medbridge_source": "medmnist"}``), ``dataset_name`` names the dataset within that source
and ``test_split`` the split. lmms-eval loads that file with ``datasets`` as usual, then calls
:func:`source_docs` as ``process_docs``, which replaces it with the MCQ docs the harness source
builds from the user's local copy. Everything else (prompt, generation, repeats, metrics) is
plain lmms-eval YAML, so chat and simple backends both work and a new task is one YAML.

Importing this module (lmms-eval does, to resolve the YAMLs' ``!function`` lines) installs
:mod:`.task_scoring`, which derives a Pass@K task's metrics from its ``repeats``.
"""

from __future__ import annotations

import json

from lmms_eval.api.filter import Filter
from loguru import logger

from ..answers import grade
from ..errors import ConfigError, MedbridgeError
from ..judge.hooks import mcq_judged
from ..metrics import exact_mean, pass_ks, question_scores
from ..prompt import render_mcq_prompt
from . import task_scoring


def source_docs(dataset):
    """``process_docs``: swap the one-line source file for the source's MCQ docs."""
    from ..sources import docs_to_dataset, get_source

    if len(dataset) != 1 or "medbridge_source" not in dataset.column_names:
        raise ConfigError(
            "process_docs source_docs expects the one-line medbridge source file as the task's data",
            where=f"dataset with columns {dataset.column_names}",
            fix='point dataset_kwargs.data_files at a file holding {"medbridge_source": "<name>"}',
        )
    source = dataset[0]["medbridge_source"]
    loader = get_source(source)
    name = dataset.info.config_name
    if not name or name == "default":
        raise ConfigError(f"task data from source {source!r} needs dataset_name", fix="add e.g. `dataset_name: breastmnist` to the task YAML")
    split = str(dataset.split)
    try:
        return docs_to_dataset(loader(name, split))
    except MedbridgeError as exc:
        # lmms-eval retries dataset loading and then reports a bare RetryError: say it plainly once.
        if str(exc) not in _reported:
            _reported.add(str(exc))
            logger.error(f"medbridge: {exc}")
        raise


_reported: set[str] = set()


def doc_to_visual(doc) -> list:
    return [image.convert("RGB") for image in doc["images"]]


def doc_to_text(doc, lmms_eval_specific_kwargs=None) -> str:
    template = (lmms_eval_specific_kwargs or {}).get("template")
    if template:
        return render_mcq_prompt(doc["question"], list(doc["options"]), template=template)
    return render_mcq_prompt(doc["question"], list(doc["options"]))


def doc_to_target(doc) -> str:
    return doc["answer"]


def _grades(doc, results):
    options = list(doc["options"])
    graded = [grade(text, options, doc["answer"]) for text in results]
    return [g.correct for g in graded], [g.parsed.letter is not None for g in graded]


# MedMNIST tasks hold one modality and one question type each: a breakdown would repeat the total.
_NO_BREAKDOWN = {"medmnist"}


def _with_breakdown(doc, scores: dict) -> dict:
    """Add the per-question inputs of the by-modality / by-question-type breakdowns (VQA tasks)."""
    if doc.get("source") in _NO_BREAKDOWN:
        return scores
    meta = doc_meta(doc)
    return {
        **scores,
        "by_modality": {"group": doc.get("modality") or "unknown", "scores": scores},
        "by_question_type": {"group": str(meta.get("question_type") or "unknown"), "scores": scores},
    }


def greedy_results(doc, results):
    """``process_results`` for greedy tasks: Accuracy@1 and the no-answer rate (+ breakdowns)."""
    correct, answered = _grades(doc, results[:1])
    scores = question_scores(correct, answered, ks=())
    scores = {"acc@1": scores["acc@1"], "no_answer_rate": scores["no_answer_rate"]}
    scores, judged = mcq_judged(doc, results[:1], correct, answered, scores, ks=())  # judge mode off: unchanged
    return {**_with_breakdown(doc, scores), **judged}


def passk_results(doc, results):
    """``process_results`` for sampled tasks: over the question's n samples, pass@k for every
    power of two k <= n and k = n, mean sample accuracy and no-answer rate, + breakdowns.
    (lmms-eval calls it through :class:`.task_scoring.TaskScorer`, which checks n.)"""
    correct, answered = _grades(doc, results)
    ks = pass_ks(len(results))
    scores = question_scores(correct, answered, ks=ks)
    scores = {key: scores[key] for key in (*(f"pass@{k}" for k in ks), "sample_acc", "no_answer_rate")}
    scores, judged = mcq_judged(doc, results, correct, answered, scores, ks=ks)  # judge mode off: unchanged
    return {**_with_breakdown(doc, scores), **judged}


class AllSamples(Filter):
    """Pass@K tasks' filter: all n samples of a question go to ``process_results`` (lmms-eval's
    default keeps the first, and ``take_first_k`` would need k written beside ``repeats``)."""

    def apply(self, resps, docs):
        return [list(r) for r in resps]


def breakdown(items: list[dict]) -> dict:
    """Aggregation for ``by_*`` metrics: per group, the mean of every score and the group's n.
    lmms-eval aggregations see only per-question values, so the group rides along with them."""
    groups: dict[str, list[dict]] = {}
    for item in items:
        groups.setdefault(item["group"], []).append(item["scores"])
    out = {}
    for name in sorted(groups):
        rows = groups[name]
        # a judged metric is missing where the judge failed: each mean runs over the questions that have it
        keys = sorted({k for r in rows for k in r})
        out[name] = {"n": len(rows), **{k: exact_mean([r[k] for r in rows if k in r]) for k in keys}}
    return out


def doc_meta(doc) -> dict:
    return json.loads(doc["meta"]) if isinstance(doc.get("meta"), str) else dict(doc.get("meta") or {})


task_scoring.install()
