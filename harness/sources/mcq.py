"""The one multiple-choice doc schema every source produces (CONTRIBUTING.md, "Add a data source")."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from ..answers import index_of_letter, option_letters


@dataclass
class MCQDoc:
    """One multiple-choice question about one or more images.

    ``options`` are option texts; their letters are A, B, … by position, and ``answer`` is the
    gold letter. ``modality`` is radiology / microscopy / visible_light for MedMNIST, finer
    (CT, MRI, X-ray, …) where a source says. ``meta`` keeps source facts (original label,
    split, question type …) and is stored as JSON text in datasets.
    """

    id: str
    images: list  # PIL images
    question: str
    options: list[str]
    answer: str
    modality: str
    source: str
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self):
        letters = option_letters(len(self.options))
        for letter, text in zip(letters, self.options):
            if not isinstance(text, str) or not text.strip():
                raise ValueError(f"doc {self.id}: option {letter} is empty")
        if self.answer not in letters:
            raise ValueError(f"doc {self.id}: answer {self.answer!r} is not one of the option letters {letters}")

    @property
    def answer_text(self) -> str:
        return self.options[index_of_letter(self.answer)]

    def to_row(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "images": self.images,
            "question": self.question,
            "options": list(self.options),
            "answer": self.answer,
            "answer_text": self.answer_text,
            "modality": self.modality,
            "source": self.source,
            "meta": json.dumps(self.meta, sort_keys=True),
        }


def docs_to_dataset(docs: list[MCQDoc]):
    """A ``datasets.Dataset`` of MCQ docs; images become an ``Image`` sequence, which lmms-eval
    strips from the copy it hands to ``process_results``."""
    import datasets

    features = datasets.Features(
        {
            "id": datasets.Value("string"),
            "images": datasets.Sequence(datasets.Image()),
            "question": datasets.Value("string"),
            "options": datasets.Sequence(datasets.Value("string")),
            "answer": datasets.Value("string"),
            "answer_text": datasets.Value("string"),
            "modality": datasets.Value("string"),
            "source": datasets.Value("string"),
            "meta": datasets.Value("string"),
        }
    )
    rows = [d.to_row() for d in docs]
    columns = {name: [r[name] for r in rows] for name in features}
    return datasets.Dataset.from_dict(columns, features=features)
