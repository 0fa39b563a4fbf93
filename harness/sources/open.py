"""The open-ended question schema: what the MCQ doc is for multiple-choice questions, without
options. The reference ``answer`` is text, scored by the judge (and by exact match and token F1
beside it), so there is no letter and no ``answer_text``."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

ANSWER_TYPES = ("open", "closed")


@dataclass
class OpenDoc:
    """One open-ended question about one or more images.

    ``answer_type`` is the source's label: ``open``, or ``closed`` for a closed question whose
    answer is not yes/no (e.g. "left or right?"), which the MCQ conversion cannot use.
    ``modality``, ``source`` and ``meta`` as in :class:`~medbridge.harness.sources.mcq.MCQDoc`.
    """

    id: str
    images: list  # PIL images
    question: str
    answer: str
    answer_type: str
    modality: str
    source: str
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self):
        if not self.answer or not self.answer.strip():
            raise ValueError(f"doc {self.id}: an open question needs a reference answer")
        if self.answer_type not in ANSWER_TYPES:
            raise ValueError(f"doc {self.id}: answer_type {self.answer_type!r} is not one of {ANSWER_TYPES}")

    def to_row(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "images": self.images,
            "question": self.question,
            "answer": self.answer,
            "answer_type": self.answer_type,
            "modality": self.modality,
            "source": self.source,
            "meta": json.dumps(self.meta, sort_keys=True),
        }


def open_docs_to_dataset(docs: list[OpenDoc]):
    import datasets

    features = datasets.Features(
        {
            "id": datasets.Value("string"),
            "images": datasets.Sequence(datasets.Image()),
            "question": datasets.Value("string"),
            "answer": datasets.Value("string"),
            "answer_type": datasets.Value("string"),
            "modality": datasets.Value("string"),
            "source": datasets.Value("string"),
            "meta": datasets.Value("string"),
        }
    )
    rows = [d.to_row() for d in docs]
    return datasets.Dataset.from_dict({name: [r[name] for r in rows] for name in features}, features=features)
