"""Stable identifiers for what was evaluated: checkpoints and task configurations."""

from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path

from .errors import CheckpointError

_FULL_HASH_LIMIT = 64 * 2**20  # files up to 64 MiB are hashed whole
_CHUNK = 2**20
_N_CHUNKS = 16


def looks_like_path(model: str) -> bool:
    """Hub ids are ``name`` or ``owner/name``; anything else (or anything that exists) is a path."""
    return os.path.exists(os.path.expanduser(model)) or model.startswith((".", "/", "~")) or model.count("/") > 1


def check_checkpoint(model: str) -> str:
    """Return a normalised model reference; raise CheckpointError when it cannot be loaded."""
    if looks_like_path(model):
        path = Path(model).expanduser()
        if not path.exists():
            raise CheckpointError("checkpoint path does not exist", where=str(path), fix="pass a checkpoint folder (with config.json) or a hub id like Qwen/Qwen2.5-VL-7B-Instruct")
        if not (path / "config.json").is_file():
            raise CheckpointError("not a checkpoint folder: config.json is missing", where=str(path), fix="point --model at the folder that holds config.json and the weights")
        return str(path.resolve())
    if not re.fullmatch(r"[\w.-]+(/[\w.-]+)?", model):
        raise CheckpointError(f"{model!r} is neither an existing folder nor a hub id", fix="pass a checkpoint folder or an id like Qwen/Qwen2.5-VL-7B-Instruct")
    try:  # cheap probe: one small file, served from the local cache when offline
        from huggingface_hub import hf_hub_download

        hf_hub_download(model, "config.json")
    except Exception as exc:
        raise CheckpointError(
            f"{model!r} is not a local folder and could not be fetched from the hub ({type(exc).__name__})",
            fix="check the path (relative to the current folder) or the hub id, the network, or HF_HUB_OFFLINE with a cached copy",
        ) from exc
    return model


def _file_digest(path: Path, h) -> None:
    size = path.stat().st_size
    h.update(f"{path.name}:{size}\n".encode())
    with path.open("rb") as f:
        if size <= _FULL_HASH_LIMIT:
            for block in iter(lambda: f.read(_CHUNK), b""):
                h.update(block)
            return
        # Large weight shards: 16 evenly spaced 1 MiB windows. Two fine-tunes of one
        # architecture differ everywhere, so this separates them at a fraction of the I/O.
        for i in range(_N_CHUNKS):
            f.seek((size - _CHUNK) * i // (_N_CHUNKS - 1))
            h.update(f.read(_CHUNK))


def checkpoint_fingerprint(model: str) -> str:
    """``sha256:<hex>`` over a local checkpoint's files, or ``hub:<id>@<revision>`` for a hub id
    (the revision is the locally cached snapshot's commit when there is one)."""
    if not looks_like_path(model):
        revision = "unresolved"
        try:
            from huggingface_hub import scan_cache_dir

            for repo in scan_cache_dir().repos:
                if repo.repo_id == model and repo.revisions:
                    revision = max(repo.revisions, key=lambda r: r.last_modified).commit_hash
        except Exception:
            pass
        return f"hub:{model}@{revision}"
    root = Path(model).expanduser()
    h = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file() and not p.name.startswith(".")):
        _file_digest(path, h)
    return "sha256:" + h.hexdigest()


_FUNCTION_REPR = re.compile(r"<function (\S+) at 0x[0-9a-f]+>")
# Hooks named with their module (Pass@K's ``process_results`` repr, filter classes): the module's
# place in the package is layout, not a setting, so only the hook's own name is hashed.
_MEDBRIDGE_PATH = re.compile(r"\bmedbridge\.harness\.(?:\w+\.)*(\w+)")


def normalise_task_config(config: dict) -> dict:
    """A task config as lmms-eval dumps it, minus what varies between identical runs:
    function reprs carry memory addresses, data file paths the install location."""
    from medbridge.tasks import TASKS_DIR

    prefix = str(TASKS_DIR) + os.sep

    def norm(value):
        if isinstance(value, dict):
            return {k: norm(v) for k, v in sorted(value.items())}
        if isinstance(value, list):
            return [norm(v) for v in value]
        if isinstance(value, str):
            value = _MEDBRIDGE_PATH.sub(r"\1", _FUNCTION_REPR.sub(r"\1", value))
            return "medbridge.tasks/" + value[len(prefix):] if value.startswith(prefix) else value
        return value

    return norm(config)


def config_hash(config, length: int = 16) -> str:
    """``sha256:<hex>`` of a JSON-able configuration (keys sorted, other values as text): the
    one hash records, probe records and leaderboard file names use for "same settings"."""
    blob = json.dumps(config, sort_keys=True, default=str)
    return "sha256:" + hashlib.sha256(blob.encode()).hexdigest()[:length]


def task_config_hash(config: dict) -> str:
    # Through JSON first: in-process configs hold live functions, files hold their reprs; both
    # must hash alike, so everything becomes text before the addresses are stripped.
    as_text = json.loads(json.dumps(config, default=str))
    return config_hash(normalise_task_config(as_text))
