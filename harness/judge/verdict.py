"""Strict judge verdicts, and what of a completion the judge is shown.

The judge is asked for exactly one JSON object, ``{"verdict": "correct"}`` or
``{"verdict": "incorrect"}``. :func:`parse_verdict` accepts that object and nothing else
(one surrounding Markdown code fence is the only tolerance, because chat models add it
without being asked and it cannot change the meaning). Any other reply — prose, "Verdict: 0",
"No, it is not correct", a score, a JSON object with other keys or values — is *off format*:
the client re-asks, and if the reply is still off format the item is a ``judge_error``, never
a guessed verdict. lmms-eval's own parsers are deliberately not used: they read "Verdict: 0"
and "No, it is not correct" as correct (lmms-eval 0.7.3's llm_judge/utils.py and verifiers/base.py parse_binary_response).

:func:`judge_input` is the part of a completion the judge sees: the content of the last
``<answer>`` tag (the grader's rule, ``harness.answers``), else, for completions without one,
the end of the text with ``<think>`` blocks removed. Judging the extracted answer rather than
the whole completion keeps the judge on the question "is this the reference answer?" (not on
the reasoning) and lets the K samples of a question that give the same answer share one verdict.
"""

from __future__ import annotations

import json
import re

from ..answers import _answer_span  # the grader's own reading of the <answer> tag

VERDICTS = ("correct", "incorrect")
MAX_ANSWER_CHARS = 1000  # the end of a tagless completion; long enough for a final sentence

_FENCE = re.compile(r"^```(?:json|JSON)?\s*\n?(.*?)\n?\s*```$", re.DOTALL)
_THINK = re.compile(r"<think>.*?</think>", re.IGNORECASE | re.DOTALL)
_OPEN_THINK = re.compile(r"<think>.*$", re.IGNORECASE | re.DOTALL)


def parse_verdict(reply: str | None) -> str | None:
    """``"correct"`` / ``"incorrect"`` for a well-formed verdict, else None (off format)."""
    if not isinstance(reply, str):
        return None
    text = reply.strip()
    fenced = _FENCE.match(text)
    if fenced:
        text = fenced.group(1).strip()
    if not (text.startswith("{") and text.endswith("}")):
        return None
    try:
        value = json.loads(text)
    except ValueError:
        return None
    if not isinstance(value, dict) or set(value) != {"verdict"}:
        return None
    verdict = value["verdict"]
    return verdict if isinstance(verdict, str) and verdict in VERDICTS else None


def judge_input(completion: str | None) -> str:
    """The text of ``completion`` the judge is asked about (whitespace collapsed; may be empty)."""
    text = completion or ""
    span = _answer_span(text)
    if span is None:
        # no <answer> tag: drop the reasoning and keep the end, where a final answer sits
        span = _OPEN_THINK.sub("", _THINK.sub("", text))[-MAX_ANSWER_CHARS:]
    return " ".join(span.replace("</answer>", " ").split())[:MAX_ANSWER_CHARS]


def dedup_key(answer: str) -> str:
    """Answers that differ only in case or spacing get one verdict."""
    return " ".join(answer.casefold().split())
