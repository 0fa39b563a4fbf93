"""SFT on MCQ docs with TRL's ``SFTTrainer``.

Rows are prompt-completion pairs (:func:`medbridge.training.data.sft_dataset`): the prompt is the
evaluation's user turn (images + the rendered MCQ prompt), the completion the target
``<think>…</think><answer>X</answer>`` (``harness.answers.format_answer``) or the doc's
reference completion. TRL then supervises only the completion tokens (``completion_only_loss``,
its default for prompt-completion data): the prompt, system turn and image tokens carry no loss.

When the data has no reasoning trace the think block holds ``data.think`` (empty by default):
the model learns the answer format and the letter, and no reasoning is invented for it.
"""

from __future__ import annotations

from trl import SFTTrainer

from .checkpoints import MarksCompleteCheckpoints
from .data import sft_dataset


class MedbridgeSFTTrainer(MarksCompleteCheckpoints, SFTTrainer):
    """TRL's SFTTrainer whose checkpoints are marked complete for ``--resume``."""


def build_sft_trainer(config, processor, docs, callbacks=None):
    """The trainer for ``config`` (``completion_only_loss: false`` would also supervise the prompt)."""
    return MedbridgeSFTTrainer(model=config.model, args=config, train_dataset=sft_dataset(docs, think=config.data_config.think),
                               processing_class=processor, callbacks=callbacks)
