"""Reward functions for GRPO / GRPO-CARE, in TRL's signature.

Accuracy is the evaluation grader itself (``harness.answers.grade``, the object lmms-eval's
``process_results`` calls), so a completion earns reward exactly when a leaderboard would count
it correct — with one guard against reward hacking: a completion that opens more than one
``<answer>`` earns nothing (the grader reads the last one; hedging must not pay). An empty
answer or a letter outside the tags is already wrong for the grader.
"""

from __future__ import annotations

from medbridge.harness.answers import answer_blocks, follows_format, grade

GRADER = grade  # the one grader; tests assert it is the object evaluation uses


def completion_text(completion) -> str:
    """TRL hands conversational completions as ``[{"role": "assistant", "content": str}]``."""
    if isinstance(completion, list):
        return "".join(m["content"] if isinstance(m.get("content"), str) else "" for m in completion)
    return str(completion)


def accuracy_reward(completions, options, answer, **kwargs) -> list[float]:
    """1.0 when the grader reads the gold letter from the single answer block, else 0.0."""
    out = []
    for completion, opts, gold in zip(completions, options, answer, strict=True):
        text = completion_text(completion)
        out.append(float(answer_blocks(text) == 1 and GRADER(text, list(opts), gold).correct))
    return out


def format_reward(completions, **kwargs) -> list[float]:
    """1.0 for exactly one think block followed by exactly one non-empty answer block."""
    return [float(follows_format(completion_text(c))) for c in completions]


def consistency_bonus(completions, **kwargs) -> list[float]:
    """Placeholder column: GRPOCareTrainer writes the bonus here once the whole group (gathered
    across processes) is scored; alone it contributes nothing."""
    return [0.0] * len(completions)


accuracy_reward.__name__ = "accuracy"
format_reward.__name__ = "format"
consistency_bonus.__name__ = "consistency_bonus"
