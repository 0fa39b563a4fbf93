"""What this machine gives medbridge: where its caches live and which device computes.

One place for both, so the sample cache, the probe feature cache and unpacked image archives
share one root, and every command picks the same device when none is given.
"""

from __future__ import annotations

import os
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
