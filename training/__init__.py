"""medbridge.training: SFT and GRPO-CARE on TRL for medical VLMs (``pip install "medbridge[train]"``).

Data path: ``harness.sources`` (MedMNIST / VQA train splits, or MCQ-doc JSONL) -> ``data`` (balanced
draw, TRL rows with the evaluation's prompt) -> ``sft`` / ``grpo_care`` (TRL trainers; rewards from
``rewards``, the evaluation grader) -> ``callbacks`` (EMA update, Pass@K monitor) -> ``model/`` +
``run_card.json`` (lineage for ``medbridge eval`` and the leaderboards). Only the harness core
(sources, prompt, answers, metrics, sampling, errors, fingerprint, records) is imported here.
"""
