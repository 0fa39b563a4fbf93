"""Judged scores inside lmms-eval's ``process_results``, and their aggregations.

Per question, :func:`judge_samples` decides which samples the judge sees (``all``: every one;
``fallback``: those the rule grader could not read), asks the shared client for the distinct
extracted answers among them, and returns each sample's final right/wrong: the rule grade, the
judge's verdict, or None for a judge error. A question with a judge error in any sample it
needs is left out of the judged metrics (its ``acc@1`` / ``pass@k`` keys are omitted, so
lmms-eval's ``mean`` runs over the judged questions only) and counted in ``judge_error_rate``.

Two extra metrics ride along with every judged question: ``judge`` (a dict: mode, judge model,
prompt, requests, tokens, cache hits, verdict per sample, (rule, judge) pairs) aggregated by
:func:`judge_summary` into the record's ``judge`` block, and ``judge_error_rate`` (samples
whose verdict failed / samples sent to the judge) aggregated by :func:`error_rate`.
"""

from __future__ import annotations

from loguru import logger

from ..answers import index_of_letter, option_letters
from ..errors import ConfigError
from ..metrics import question_scores
from .agreement import agreement
from .client import JudgeItem, shared_client
from .prompts import MCQ_TEMPLATE, load_prompt
from .settings import from_env, public_url
from .task_config import mcq_mode, template_for
from .verdict import dedup_key, judge_input

JUDGED_METRICS = ("acc@1", "sample_acc")  # and every pass@k: the metrics a judge can change


def judge_samples(*, mode: str, template: str, completions: list[str], rule: list[bool], need: list[bool], context: dict, key: dict, images=None, reference: str = "rule"):
    """Final per-sample grades (None = judge error) and the question's ``judge`` entry."""
    settings = from_env().require(f"judge mode {mode!r}")
    prompt = load_prompt(template)
    if prompt.needs_image and not images:
        raise ConfigError(
            f"judge template {prompt.name} sends the image, but process_results got the question without it",
            fix="set `process_results_use_image: true` in the task YAML (lmms-eval strips images before scoring otherwise)",
        )
    answers = [judge_input(c) if n else None for c, n in zip(completions, need)]
    asked = [i for i, a in enumerate(answers) if a]  # empty answers are wrong without asking
    items = [JudgeItem(prompt, {**context, "answer": answers[i]}, {**key, "answer": dedup_key(answers[i])}, list(images or [])) for i in asked]
    verdicts, usage = shared_client(settings).judge(items) if items else ([], None)
    by_sample = dict(zip(asked, verdicts))
    final, labels, pairs, kinds, replies = [], [], [], {}, []
    for i, r in enumerate(rule):
        if not need[i]:
            final.append(bool(r))
            labels.append("rule")
        elif i not in by_sample:
            final.append(False)
            labels.append("empty")
        elif not by_sample[i].ok:
            v = by_sample[i]
            final.append(None)
            labels.append(f"judge_error:{v.error}")
            kinds[v.error] = kinds.get(v.error, 0) + 1
            if v.reply is not None and v.reply not in replies and len(replies) < 3:
                replies.append(v.reply)
        else:
            correct = by_sample[i].status == "correct"
            final.append(correct)
            labels.append(by_sample[i].status)
            pairs.append([bool(r), correct])
    errors = sum(v is None for v in final)
    entry = {
        "mode": mode,
        "model": settings.model,
        "template": prompt.id,
        "reference": reference,
        "samples": len(rule),
        "sent": len(asked),
        "errors": errors,
        "error_kinds": kinds,
        "distinct": usage.judged if usage else 0,
        "requests": usage.requests if usage else 0,
        "prompt_tokens": usage.prompt_tokens if usage else 0,
        "completion_tokens": usage.completion_tokens if usage else 0,
        "cache_hits": usage.cache_hits if usage else 0,
        "verdicts": labels,
        "pairs": pairs if mode == "all" else [],
        "off_format_replies": replies,
    }
    return final, entry


def with_judged(scores: dict, final: list, answered: list[bool], ks) -> dict:
    """``scores`` with its judged metrics recomputed from ``final`` (or removed when a sample
    has no verdict); everything else (no-answer rate, exact match ...) stays as it is."""
    judged_keys = [k for k in scores if k in JUDGED_METRICS or k.startswith("pass@")]
    out = {k: v for k, v in scores.items() if k not in judged_keys}
    if None in final:
        return out
    recomputed = question_scores([bool(x) for x in final], answered, ks=ks)
    return {**out, **{k: recomputed[k] for k in judged_keys}}


def extra_metrics(entry: dict) -> dict:
    return {"judge": entry, "judge_error_rate": {"errors": entry["errors"], "sent": entry["sent"]}}


def mcq_judged(doc, results: list[str], correct: list[bool], answered: list[bool], scores: dict, ks) -> tuple[dict, dict]:
    """For ``lmms.hooks``: (scores, extra metrics) of one MCQ under the task's judge mode.
    Mode ``off`` returns ``scores`` unchanged and no extras."""
    mode = mcq_mode()
    if mode == "off":
        return scores, {}
    options = list(doc["options"])
    letters = option_letters(len(options))
    need = [True] * len(results) if mode == "all" else [not a for a in answered]
    if not any(need):
        return scores, extra_metrics(_empty_entry(mode, template_for(MCQ_TEMPLATE), len(results)))
    reference = doc["answer"]
    context = {"question": doc["question"], "options": list(zip(letters, options)), "reference_letter": reference, "reference_text": options[index_of_letter(reference)]}
    key = {"kind": "mcq", "question": doc["question"], "options": options, "reference": reference}
    final, entry = judge_samples(mode=mode, template=template_for(MCQ_TEMPLATE), completions=results, rule=correct, need=need, context=context, key=key, images=doc.get("images"))
    return with_judged(scores, final, answered, ks), extra_metrics(entry)


def _empty_entry(mode: str, template: str, samples: int) -> dict:
    settings = from_env()
    return {
        "mode": mode, "model": settings.model, "template": load_prompt(template).id, "reference": "rule", "samples": samples, "sent": 0, "errors": 0,
        "error_kinds": {}, "distinct": 0, "requests": 0, "prompt_tokens": 0, "completion_tokens": 0, "cache_hits": 0,
        "verdicts": ["rule"] * samples, "pairs": [], "off_format_replies": [],
    }  # fmt: skip


# ---- aggregations (named with !function in the task YAMLs) ------------------------------


def error_rate(items: list[dict]) -> float:
    """Samples whose judge verdict failed / samples sent to the judge (0 when none was sent)."""
    sent = sum(i["sent"] for i in items)
    return sum(i["errors"] for i in items) / sent if sent else 0.0


_SUMMED = ("samples", "sent", "errors", "distinct", "requests", "prompt_tokens", "completion_tokens", "cache_hits")


def judge_summary(items: list[dict]) -> dict:
    """The task's ``judge`` block: who judged, in which mode, usage, errors, agreement."""
    first = items[0]
    totals = {k: sum(i[k] for i in items) for k in _SUMMED}
    kinds: dict[str, int] = {}
    for item in items:
        for kind, count in item["error_kinds"].items():
            kinds[kind] = kinds.get(kind, 0) + count
    pairs = [tuple(p) for i in items for p in i["pairs"]]
    settings = from_env()
    excluded = sum(1 for i in items if i["errors"])
    summary = {
        "mode": first["mode"],
        "model": first["model"],
        "template": first["template"],
        "base_url": public_url(settings.base_url),
        "api_key_env": settings.api_key_env,
        "questions": len(items),
        "questions_excluded": excluded,
        "error_rate": totals["errors"] / totals["sent"] if totals["sent"] else 0.0,
        "error_kinds": dict(sorted(kinds.items())),
        "max_error_rate": settings.max_error_rate,
        "usage": {k: totals[k] for k in ("requests", "prompt_tokens", "completion_tokens", "cache_hits")},
        "samples": totals["samples"],
        "samples_sent": totals["sent"],
        "samples_without_verdict": totals["errors"],
        "distinct_answers_judged": totals["distinct"],
        "requests_per_question": totals["requests"] / len(items),
        "agreement": {"reference": first["reference"], **agreement(pairs)} if first["mode"] == "all" else None,
        "off_format_replies": sorted({r for i in items for r in i["off_format_replies"]})[:5],
    }
    line = f"medbridge judge {summary['model']} ({summary['mode']}): {totals['requests']} requests, {totals['cache_hits']} cached, {totals['errors']}/{totals['sent']} samples without a verdict ({100 * summary['error_rate']:.1f}%)"
    (logger.warning if summary["error_rate"] > settings.max_error_rate else logger.info)(line)
    return summary
