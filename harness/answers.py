"""The one grader: turns a model completion into an option letter and scores it.

Evaluation (``harness.lmms.hooks`` ``process_results``) and the RL reward both call
:func:`grade`, so a completion that counts as correct in a leaderboard is exactly one that
earns reward in training.

What is read (the documented tolerant forms; anything else is *no answer*, scored wrong and
counted, never guessed):

0. ``<think>…</think>`` blocks are reasoning and are set aside first: an ``<answer>`` inside
   one is a draft the model may still revise, not its answer (the prompt asks for the answer
   *after* the thinking, and the RL format reward requires that order). An unclosed
   ``<think>`` runs to the end; a ``</think>`` with no opening tag (chat templates that prefill
   ``<think>``) ends reasoning that started with the completion. Tags are case-insensitive.
1. Only the text inside the **last** remaining ``<answer>…</answer>`` pair is considered; an
   unclosed final ``<answer>`` runs to the end of the completion (generation often stops on a
   length or stop-string limit right after the letter).
2. Inside it, surrounding whitespace, Markdown emphasis (``*``, ``_``, `````) and one pair of
   brackets ``()``/``[]``/``{}`` are ignored.
3. Accepted: the bare letter (``A``; lower case ``a`` only when it is the whole answer),
   the letter followed by ``.``, ``)`` or ``:`` and optionally the option text
   (``B. Melanoma``), ``Option B`` / ``Answer: B``, or the exact text of one option
   (case- and whitespace-insensitive).
4. The letter must name one of the offered options (``E`` with four options is no answer).

Text outside the answer tags is never searched for a letter: an ``A`` in the reasoning is
usually the article "a", a classic source of silently inflated scores.

The grader reads the raw completion. lmms-eval's CLI would strip ``<think>`` blocks itself
(``--reasoning_tags``) while ``medbridge eval`` passes none, so the task YAMLs switch lmms-eval's
stripping off (``reasoning_tags: none`` in ``tasks/_mcq_base.yaml``): both entry points and the
RL reward then grade the same text with the same rule (rule 0).
"""

from __future__ import annotations

import re
import string
from dataclasses import dataclass

LETTERS = string.ascii_uppercase

_ANSWER_OPEN = re.compile(r"<answer>", re.IGNORECASE)
_THINK_BLOCK = re.compile(r"<think>.*?(?:</think>|\Z)", re.IGNORECASE | re.DOTALL)
_THINK_CLOSE = re.compile(r"</think>", re.IGNORECASE)
_ANSWER_BLOCK = re.compile(r"<answer>(.*?)</answer>", re.IGNORECASE | re.DOTALL)
_PREFIX = re.compile(r"^(?:the\s+)?(?:final\s+)?(?:answer|option|choice)\s*(?:is)?\s*[:\-]?\s*", re.IGNORECASE)
_LETTER_WITH_TEXT = re.compile(r"^([A-Z])\s*[.):]\s*(.*)$", re.DOTALL)
_BRACKETS = {"(": ")", "[": "]", "{": "}"}


@dataclass(frozen=True)
class ParsedAnswer:
    """What the grader read: ``letter`` is None when the completion gives no valid answer.

    ``status`` is one of ``ok``, ``no_tag`` (no ``<answer>``), ``in_think`` (an ``<answer>``
    only inside ``<think>`` reasoning), ``empty`` (tag with nothing in it), ``unrecognised``
    (content matches no accepted form) or ``out_of_range`` (a letter that names no offered
    option).
    """

    letter: str | None
    status: str


@dataclass(frozen=True)
class Grade:
    correct: bool
    parsed: ParsedAnswer


def option_letters(n_options: int) -> str:
    if not 1 <= n_options <= len(LETTERS):
        raise ValueError(f"an MCQ needs between 1 and {len(LETTERS)} options, got {n_options}")
    return LETTERS[:n_options]


def letter_of_index(index: int) -> str:
    """Option letter by position: 0 -> ``A``."""
    if not 0 <= index < len(LETTERS):
        raise ValueError(f"option index {index} is outside 0..{len(LETTERS) - 1}")
    return LETTERS[index]


def index_of_letter(letter: str) -> int:
    """Option position of a letter: ``A`` -> 0 (upper case only: letters in docs are canonical)."""
    if len(letter) != 1 or letter not in LETTERS:
        raise ValueError(f"{letter!r} is not an option letter")
    return LETTERS.index(letter)


def match_option_text(text: str, options: list[str]) -> str | None:
    """The letter of the one option whose text equals ``text`` (case, spacing and a final full
    stop ignored), else None; the grader and the VQA sources' answer matching share this."""
    wanted = _normalise(text)
    hits = [LETTERS[i] for i, opt in enumerate(options) if _normalise(opt) == wanted]
    return hits[0] if len(hits) == 1 else None


def gold_letter(answer: str, options: list[str]) -> str | None:
    """The letter of a dataset's answer key given as a letter (``C``, any case) or as option
    text (the grader's text match), else None: how sources turn their gold answers into letters."""
    text = (answer or "").strip()
    if not options:
        return None
    if len(text) == 1 and text.upper() in option_letters(len(options)):
        return text.upper()
    return match_option_text(text, options)


def format_answer(letter: str, think: str = "") -> str:
    """The completion the prompt asks for, ``<think>…</think><answer>X</answer>``: the inverse
    of :func:`parse_answer` (SFT targets and the tiny model's format teaching are built here)."""
    if len(letter) != 1 or letter not in LETTERS:
        raise ValueError(f"{letter!r} is not an option letter")
    if "<answer>" in think.lower() or "</think>" in think.lower():
        raise ValueError("the think text must not contain <answer> or </think> tags")
    return f"<think>{think}</think><answer>{letter}</answer>"


def outside_think(completion: str) -> str:
    """The completion without its ``<think>`` reasoning (rule 0 of the module docstring)."""
    text = _THINK_BLOCK.sub(" ", completion)
    closes = list(_THINK_CLOSE.finditer(text))  # left over: reasoning whose <think> the template wrote
    return text[closes[-1].end():] if closes else text


def _answer_span(completion: str) -> str | None:
    blocks = _ANSWER_BLOCK.findall(completion)
    opens = list(_ANSWER_OPEN.finditer(completion))
    if not opens:
        return None
    last_open = opens[-1]
    # An unclosed final <answer> (after the last closed pair) runs to the end of the text.
    if "</answer>" not in completion[last_open.end():].lower():
        return completion[last_open.end():]
    return blocks[-1] if blocks else None


def _strip_decoration(text: str) -> str:
    text = text.strip().strip("*_`").strip()
    if len(text) >= 2 and _BRACKETS.get(text[0]) == text[-1]:
        text = text[1:-1].strip().strip("*_`").strip()
    return text


def _normalise(text: str) -> str:
    return " ".join(text.lower().split()).rstrip(".")


def parse_answer(completion: str, options: list[str]) -> ParsedAnswer:
    """Read the option letter from ``completion`` for a question offering ``options``."""
    valid = option_letters(len(options))
    completion = completion or ""
    span = _answer_span(outside_think(completion))
    if span is None:
        return ParsedAnswer(None, "in_think" if _ANSWER_OPEN.search(completion) else "no_tag")
    content = _strip_decoration(span)
    if not content:
        return ParsedAnswer(None, "empty")

    candidate = _strip_decoration(_PREFIX.sub("", content, count=1)) or content
    letter = None
    if len(candidate) == 1 and candidate.upper() in LETTERS:
        letter = candidate.upper()
    else:
        m = _LETTER_WITH_TEXT.match(candidate)
        if m and (not m.group(2) or _text_agrees(m.group(1), m.group(2), options)):
            letter = m.group(1)
    if letter is None:
        by_text = match_option_text(content, options)
        return ParsedAnswer(by_text, "ok") if by_text else ParsedAnswer(None, "unrecognised")
    if letter not in valid:
        return ParsedAnswer(None, "out_of_range")
    return ParsedAnswer(letter, "ok")


def _text_agrees(letter: str, text: str, options: list[str]) -> bool:
    """``B. <text>`` counts only when <text> is option B's text (or a prefix of it, for
    completions cut by a length limit); a letter glued to another option's text is ambiguous."""
    idx = LETTERS.find(letter)
    if idx < 0 or idx >= len(options):
        return True  # out-of-range letters are reported as such by the caller
    got, want = _normalise(_strip_decoration(text)), _normalise(options[idx])
    return bool(got) and want.startswith(got)


_TAG = re.compile(r"</?(?:think|answer)>", re.IGNORECASE)
_STRICT_FORMAT = re.compile(r"\s*<think>(.*?)</think>\s*<answer>(.*?)</answer>\s*", re.IGNORECASE | re.DOTALL)


def answer_blocks(completion: str) -> int:
    """How many ``<answer>`` tags a completion opens."""
    return len(_ANSWER_OPEN.findall(completion or ""))


def follows_format(completion: str) -> bool:
    """Exactly one ``<think>…</think>`` followed by exactly one non-empty ``<answer>…</answer>``
    and nothing else: the layout the prompt asks for (the RL format reward)."""
    m = _STRICT_FORMAT.fullmatch(completion or "")
    return bool(m) and not _TAG.search(m.group(1)) and not _TAG.search(m.group(2)) and bool(m.group(2).strip())


def grade(completion: str, options: list[str], answer: str) -> Grade:
    """Score one completion against the gold letter ``answer``."""
    parsed = parse_answer(completion, options)
    return Grade(correct=parsed.letter is not None and parsed.letter == answer.upper(), parsed=parsed)
