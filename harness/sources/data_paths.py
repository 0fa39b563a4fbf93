"""``--data NAME=PATH``: a local copy for one dataset, as the environment variable its source reads.

VQA benchmarks read ``MEDBRIDGE_DATA_<BENCHMARK>`` (a folder or file in any of their layouts);
MedMNIST datasets ``MEDBRIDGE_DATA_<FLAG>`` (one npz of any name, e.g. a renamed partial copy).
The variables carry the paths into the task hooks, which run inside lmms-eval.
"""

from __future__ import annotations

import difflib

from ..errors import ConfigError


def _medmnist_flag(name: str) -> str | None:
    from .catalogue import MEDMNIST, MEDMNIST_BY_FLAG

    key = name.lower().removeprefix("medmnist_")
    if key in MEDMNIST:
        return MEDMNIST[key].flag
    return key if key in MEDMNIST_BY_FLAG else None


def data_env(data: dict[str, str] | None) -> dict[str, str]:
    """``{"vqa_rad": "/data/vqa_rad", "pneumonia": "/x/p.npz"}`` -> the variables to set."""
    from . import catalogue, medmnist, vqa

    out = {}
    for name, path in (data or {}).items():
        flag = _medmnist_flag(name)
        if flag is not None:
            out[medmnist.data_var(flag)] = str(path)
        elif name in (*vqa.BENCHMARKS, vqa.UNIFIED):
            out[vqa.env_var(name)] = str(path)
        else:
            known = [*vqa.BENCHMARKS, vqa.UNIFIED, *sorted(catalogue.MEDMNIST)]
            close = difflib.get_close_matches(name, known, n=1)
            hint = f"did you mean {close[0]}? " if close else ""
            raise ConfigError(f"unknown benchmark {name!r} in --data", fix=f"{hint}VQA: {', '.join([*vqa.BENCHMARKS, vqa.UNIFIED])}; MedMNIST: {', '.join(sorted(catalogue.MEDMNIST))}")
    return out
