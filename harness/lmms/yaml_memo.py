"""Read each task YAML once per process instead of once per lookup.

lmms-eval's ``utils.load_yaml_config`` parses with PyYAML's pure-Python loader and, in "full"
mode, re-executes the ``utils.py`` behind every ``!function`` tag. One ``medbridge eval`` asks for
the same ~90 files about 400 times (indexing, key checks, config checks, task building): ~0.6 s
of its start-up on 2 cores. lmms-eval has no cache of its own, so this wraps the function: the
result is kept per (file, mode, folder) together with the size and mtime of every file it read
(its ``include:`` chain too), reused only while none of them changed, and handed out as a deep
copy, because lmms-eval edits the dict it gets.
"""

from __future__ import annotations

import copy
import functools
import os

_cache: dict[tuple, tuple[list[tuple[str, tuple]], dict]] = {}
_reading: list[list[tuple[str, tuple]]] = []  # files read by each call in progress (includes nest)


def _stamp(path: str) -> tuple:
    st = os.stat(path)
    return st.st_mtime_ns, st.st_size, st.st_ino


def _fresh(files: list[tuple[str, tuple]]) -> bool:
    try:
        return all(_stamp(path) == stamp for path, stamp in files)
    except OSError:
        return False


def memoised(original):
    @functools.wraps(original)
    def load_yaml_config(yaml_path=None, yaml_config=None, yaml_dir=None, mode="full"):
        if yaml_config is not None or yaml_path is None:
            return original(yaml_path=yaml_path, yaml_config=yaml_config, yaml_dir=yaml_dir, mode=mode)
        key = (os.path.abspath(yaml_path), mode, yaml_dir)
        hit = _cache.get(key)
        if hit is not None and _fresh(hit[0]):
            for outer in _reading:
                outer.extend(hit[0])
            return copy.deepcopy(hit[1])
        files = [(key[0], _stamp(yaml_path))]  # before reading: an edit while parsing is seen next time
        _reading.append(files)
        try:
            value = original(yaml_path=yaml_path, yaml_config=None, yaml_dir=yaml_dir, mode=mode)
        finally:
            _reading.pop()
        for outer in _reading:
            outer.extend(files)
        _cache[key] = (files, copy.deepcopy(value))
        return value

    load_yaml_config._medbridge = True
    return load_yaml_config


def install() -> None:
    """Wrap lmms-eval's loader (idempotent). Its recursive ``include:`` calls look the name up
    in its module, so they go through the cache too."""
    from lmms_eval import utils

    if not getattr(utils.load_yaml_config, "_medbridge", False):
        utils.load_yaml_config = memoised(utils.load_yaml_config)
