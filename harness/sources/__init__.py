"""Data sources: each turns one on-disk or hub layout into :class:`MCQDoc` records (or, for
open-ended questions, :class:`OpenDoc`); the registry maps a source name to its loader for
evaluation and training alike."""

from .mcq import MCQDoc
from .mcq import docs_to_dataset as mcq_docs_to_dataset
from .open import OpenDoc, open_docs_to_dataset
from .registry import get_source, load_source_docs, register_source, source_names


def docs_to_dataset(docs: list):
    """A ``datasets.Dataset`` of docs of one schema: MCQ docs, or open docs (no options)."""
    if docs and isinstance(docs[0], OpenDoc):
        return open_docs_to_dataset(docs)
    return mcq_docs_to_dataset(docs)


__all__ = ["MCQDoc", "OpenDoc", "docs_to_dataset", "get_source", "load_source_docs", "register_source", "source_names"]
