"""lmms-eval hooks of the open-ended VQA tasks (``tasks/vqa_open``): prompt, target, scores.

The docs come through ``hooks.source_docs`` from the ``vqa_open`` source (open questions
of VQA-RAD, SLAKE, PathVQA; :class:`~medbridge.harness.sources.open.OpenDoc`). Every sample is
scored by the judge against the reference answer (these tasks need a judge; the mode is always
``all``), and beside it by exact match and token F1 of the ``<answer>`` tag's content, which
also serve as the exact grade the judge's agreement is measured against. A completion without
an ``<answer>`` tag is no answer for exact match and F1 (and counted in ``no_answer_rate``);
the judge still sees its end (``judge.verdict.judge_input``).
"""

from __future__ import annotations

from collections import Counter

from ..answers import _answer_span  # the grader's reading of the last <answer> tag
from ..judge.hooks import extra_metrics, judge_samples, with_judged
from ..judge.prompts import OPEN_TEMPLATE
from ..judge.task_config import template_for
from ..metrics import pass_ks, question_scores
from ..prompt import render_prompt
from .hooks import _with_breakdown

OPEN_PROMPT = "open_prompt.jinja"


def doc_to_text(doc, lmms_eval_specific_kwargs=None) -> str:
    template = (lmms_eval_specific_kwargs or {}).get("template") or OPEN_PROMPT
    return render_prompt(template, question=doc["question"].strip())


def doc_to_target(doc) -> str:
    return doc["answer"]


def normalise(text: str) -> str:
    """The VQA answer normalisation (lmms-eval's EvalAI processor: case, punctuation, articles,
    number words, contractions)."""
    from lmms_eval.tasks._task_utils.vqa_eval_metric import EvalAIAnswerProcessor

    return EvalAIAnswerProcessor()(text or "")


def exact_match(answer: str | None, reference: str) -> float:
    return float(answer is not None and bool(normalise(reference)) and normalise(answer) == normalise(reference))


def token_f1(answer: str | None, reference: str) -> float:
    """Bag-of-tokens F1 of the normalised answer against the reference (the SQuAD definition;
    written here because its packaged form, the ``evaluate`` hub module, needs the network)."""
    if answer is None:
        return 0.0
    got, want = normalise(answer).split(), normalise(reference).split()
    overlap = sum((Counter(got) & Counter(want)).values())
    if not got or not want or not overlap:
        return float(got == want)
    precision, recall = overlap / len(got), overlap / len(want)
    return 2 * precision * recall / (precision + recall)


def tagged_answer(completion: str) -> str | None:
    """The last ``<answer>`` tag's content, or None when there is none or it is empty."""
    span = _answer_span(completion or "")
    span = " ".join(span.split()) if span is not None else ""
    return span or None


def _scores(doc, results: list[str], ks) -> dict:
    answers = [tagged_answer(r) for r in results]
    em = [exact_match(a, doc["answer"]) for a in answers]
    answered = [a is not None for a in answers]
    rule = question_scores([bool(x) for x in em], answered, ks=ks)
    context = {"question": doc["question"], "reference": doc["answer"]}
    key = {"kind": "open", "question": doc["question"], "reference": doc["answer"]}
    final, entry = judge_samples(
        mode="all", template=template_for(OPEN_TEMPLATE), completions=results, rule=[bool(x) for x in em], need=[True] * len(results),
        context=context, key=key, images=doc.get("images"), reference="exact_match",
    )  # fmt: skip
    judged_keys = ("acc@1",) if not ks else (*(f"pass@{k}" for k in ks), "sample_acc")
    scores = {k: rule[k] for k in judged_keys}
    scores = with_judged(scores, final, answered, ks)
    scores.update(exact_match=sum(em) / len(em), token_f1=sum(token_f1(a, doc["answer"]) for a in answers) / len(answers), no_answer_rate=rule["no_answer_rate"])
    return {**_with_breakdown(doc, scores), **extra_metrics(entry)}


def greedy_results(doc, results):
    """Greedy open tasks: ``acc@1`` by the judge, ``exact_match``, ``token_f1``, ``no_answer_rate``."""
    return _scores(doc, results[:1], ks=())


def passk_results(doc, results):
    """Sampled open tasks: judged ``pass@k`` and ``sample_acc``; exact match, F1 and the no-answer
    rate as means over the samples."""
    return _scores(doc, results, ks=pass_ks(len(results)))  # every power of two k <= n, and n

