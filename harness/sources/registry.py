"""The source registry: a source name (the ``medbridge_source`` of a task's one-line data file,
or a training config's ``data.source``) -> a loader of MCQ docs.

Evaluation (``lmms.hooks.source_docs``) and training (``medbridge.training.data``) look sources
up here, so a source registered once serves both. A loader is called as
``loader(dataset_name, split, **options)`` and returns a list of :class:`MCQDoc`.

Splits: ``medmnist`` takes train / val / test (options ``balanced``, ``per_class``, ``size``,
``root``, ``path`` = one npz of any name); ``vqa`` takes ``paper`` (the paper's test subsets),
``test``, ``train``, ``validation`` (``val`` / ``validate``) or ``dev`` where the benchmark has
them (option ``path`` = a local copy instead of ``MEDBRIDGE_DATA_<BENCHMARK>``).
"""

from __future__ import annotations

import difflib
from collections.abc import Callable

from ..errors import ConfigError

_SOURCES: dict[str, Callable] = {}


def register_source(name: str):
    """Decorator: register ``fn(dataset_name, split, **options) -> list[MCQDoc]`` as ``name``."""

    def wrap(fn):
        _SOURCES[name] = fn
        return fn

    return wrap


def source_names() -> list[str]:
    return sorted(_SOURCES)


def get_source(name: str) -> Callable:
    if name not in _SOURCES:
        close = difflib.get_close_matches(name, list(_SOURCES), n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise ConfigError(f"unknown medbridge source {name!r}", fix=f"{hint}use one of: {', '.join(source_names())}")
    return _SOURCES[name]


def load_source_docs(source: str, dataset_name: str, split: str, **options) -> list:
    return get_source(source)(dataset_name, split, **options)


@register_source("medmnist")
def _medmnist(dataset_name: str, split: str, **options):
    from . import medmnist

    return medmnist.load_docs(dataset_name, split=split, **options)


@register_source("vqa")
def _vqa(dataset_name: str, split: str, **options):
    from . import vqa

    return vqa.load_docs(dataset_name, split=split, **options)


@register_source("vqa_open")
def _vqa_open(dataset_name: str, split: str, **options):
    from . import vqa_open

    return vqa_open.load_docs(dataset_name, split=split, **options)
