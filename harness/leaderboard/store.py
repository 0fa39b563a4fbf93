"""Where leaderboard records live and how they are named, read and written.

A leaderboard folder (default ``./leaderboards``, the repository's) holds ``results/`` (the
records: the only input), ``templates/`` (optional overrides of the packaged Jinja2 pages) and
the generated pages and ``plots/``. A record's file is
``results/<model>/<task>__<key>.json``: ``key`` hashes what makes two runs comparable (task
config, generation and data settings, checkpoint fingerprint; for reported rows the citation),
so re-adding the same run replaces its file while a different setting gets a file of its own.
"""

from __future__ import annotations

import re
from pathlib import Path

from ..atomic_write import write_json_atomic
from ..errors import ConfigError, RecordError
from ..fingerprint import config_hash
from ..records import model_key, read_record

DEFAULT_ROOT = Path("leaderboards")
RESULTS = "results"
# Data settings that say where files are on one machine, not what was evaluated.
# (``file``: a MedMNIST npz path; ``where``: a VQA copy's path or hub id.)
LOCAL_DATA_KEYS = ("medmnist_root", "file", "where")


def resolve_root(root: str | Path | None, *, create: bool = False) -> Path:
    """The leaderboard folder; the default must exist (so a stray call outside the repository
    does not scatter folders), an explicit one is created on demand when ``create``."""
    explicit = root is not None
    path = Path(root) if explicit else DEFAULT_ROOT
    if path.is_dir():
        return path
    if path.exists():
        raise ConfigError("leaderboard folder is not a directory", where=str(path), fix="pass --root DIR")
    if explicit and create:
        path.mkdir(parents=True)
        return path
    raise ConfigError(
        "leaderboard folder does not exist",
        where=str(path.resolve()),
        fix="run from the repository root (it holds leaderboards/) or pass --root DIR",
    )


def slug(text: str) -> str:
    """A file-name-safe form of a model name: ``Qwen2.5-VL-7B-Instruct`` stays as it is."""
    out = re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-.")
    return out or "model"


def settings_key(record: dict) -> str:
    prov = record["provenance"]
    if prov["kind"] == "reported":
        basis = {"citation": prov.get("citation"), "where": prov.get("where")}
    else:
        data = {k: v for k, v in (record.get("data") or {}).items() if k not in LOCAL_DATA_KEYS}
        basis = {
            "config_hash": record["task"].get("config_hash"),
            "generation": record.get("generation"),
            "data": data,
            "fingerprint": record["model"].get("fingerprint"),
        }
        judge = record.get("judge") or {}
        if judge.get("mode", "off") != "off":  # another judge or mode is another setting (unjudged keys unchanged)
            basis["judge"] = {k: judge.get(k) for k in ("mode", "model", "template")}
    return config_hash(basis, 10).removeprefix("sha256:")


def record_path(root: Path, record: dict) -> Path:
    return Path(root) / RESULTS / slug(model_key(record)) / f"{record['task']['name']}__{settings_key(record)}.json"


def write_record(root: Path, record: dict) -> Path:
    path = record_path(root, record)
    write_json_atomic(path, record)
    return path


def _record_files(path: Path) -> list[Path]:
    """Record files under a leaderboard folder, an eval output folder or any folder of records."""
    if (path / RESULTS).is_dir():
        path = path / RESULTS
    elif (path / "records").is_dir():
        path = path / "records"
    return sorted(p for p in path.rglob("*.json") if not p.name.startswith("."))


def load_records(*paths: str | Path, exact: bool = False) -> list[dict]:
    """Validated records from files and folders, in a stable order; each carries its file in
    ``record["_file"]`` (relative to where it was found) for messages. A folder holding
    ``results/`` or ``records/`` is read there unless ``exact``."""
    records = []
    for path in map(Path, paths):
        if path.is_file():
            files, base = [path], path.parent
        elif path.is_dir():
            files = sorted(p for p in path.rglob("*.json") if not p.name.startswith(".")) if exact else _record_files(path)
            base = path
        else:
            raise RecordError("no such record file or folder", where=str(path), fix="pass a record .json, a folder of records or a leaderboard folder")
        for file in files:
            record = read_record(file)
            record["_file"] = str(file.relative_to(base)) if file.is_relative_to(base) else str(file)
            records.append(record)
    records.sort(key=lambda r: (model_key(r), r["task"]["name"], r["provenance"]["kind"], r["_file"]))
    return records


def check_unique(records: list[dict]) -> None:
    """One measured record per (model, task): two would compete for one table cell."""
    seen: dict[tuple, dict] = {}
    for record in records:
        prov = record["provenance"]
        key = (model_key(record), record["task"]["name"], prov["kind"], prov.get("citation"))
        if key in seen:
            raise RecordError(
                f"two {prov['kind']} records for model {key[0]!r} on task {key[1]!r} with different settings",
                where=f"{seen[key]['_file']} and {record['_file']}",
                fix="remove the outdated one, or re-add one run under another name (`medbridge leaderboard add --name ...`)",
            )
        seen[key] = record
