"""What this machine gives medbridge: where its caches live, which device computes, how a
process ends.

One place for each, so the sample cache, the probe feature cache and unpacked image archives
share one root, every command picks the same device when none is given, and commands do not
spend seconds in garbage collections that free nothing (start-up, and the exit of ``medbridge``
and of ``lmms-eval`` with medbridge installed).
"""

from __future__ import annotations

import gc
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def cache_root() -> Path:
    """``$MEDBRIDGE_CACHE``, else ``$XDG_CACHE_HOME/medbridge``, else ``~/.cache/medbridge``."""
    if os.environ.get("MEDBRIDGE_CACHE"):
        return Path(os.environ["MEDBRIDGE_CACHE"]).expanduser()
    return Path(os.environ.get("XDG_CACHE_HOME") or "~/.cache").expanduser() / "medbridge"


def default_device() -> str:
    """``cuda`` when a CUDA device is visible, else ``cpu`` (imports torch: call it late)."""
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


@contextmanager
def environment(values: dict) -> Iterator[None]:
    """Set environment variables for the block (``None`` values are left alone) and restore
    every one afterwards: settings reach code that reads them from the environment (lmms-eval
    task hooks, the MedMNIST readers) without outliving the call."""
    old = {k: os.environ.get(k) for k in values}
    try:
        os.environ.update({k: str(v) for k, v in values.items() if v is not None})
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def skip_exit_collections() -> None:
    """Call when the process is about to end. ``gc.freeze()`` moves every object out of the
    collector's reach, so the interpreter's shutdown skips its full collections: with torch,
    transformers and lmms-eval loaded those walk millions of objects several times, ~1.6 s of
    every command's exit on 2 CPU cores (``benchmarks/eval_setup.py`` prints the exit).
    Objects are still freed by reference counting and atexit handlers still run; only cyclic
    garbage is left to the OS, which takes the whole heap back a moment later anyway."""
    gc.freeze()


FULL_COLLECTION_EVERY = 100  # young-generation passes between full ones (Python's default: 10)


def fewer_full_collections() -> None:
    """Call when a command starts. It imports torch, transformers and lmms-eval: ~500k objects
    that live to the end, created in seconds, during which Python runs a full collection every
    10 young-generation passes (7 in one ``medbridge eval``, ~1 s on 2 cores, none finding
    anything to free). With 100, young objects are collected exactly as before; only cyclic
    garbage that has already survived two young passes waits longer for its full pass."""
    first, second, _ = gc.get_threshold()
    gc.set_threshold(first, second, FULL_COLLECTION_EVERY)
