"""Data sources: each turns one on-disk or hub layout into :class:`MCQDoc` records."""

from .mcq import MCQDoc, docs_to_dataset

__all__ = ["MCQDoc", "docs_to_dataset"]
