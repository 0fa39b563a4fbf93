"""Data sources: each turns one on-disk or hub layout into :class:`MCQDoc` records; the
registry maps a source name to its loader for evaluation and training alike."""

from .mcq import MCQDoc, docs_to_dataset
from .registry import get_source, load_source_docs, register_source, source_names

__all__ = ["MCQDoc", "docs_to_dataset", "get_source", "load_source_docs", "register_source", "source_names"]
