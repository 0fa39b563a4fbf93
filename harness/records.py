"""Normalised result records: one JSON per (model, task, settings), the unit leaderboards use.

A record says what was measured (metrics with standard errors and n), on what (task name and
config hash, data settings, generation settings), with what (model id, checkpoint
fingerprint, backend) and by which software (medbridge, lmms-eval, transformers, torch).
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import os
import tempfile
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from .fingerprint import task_config_hash

SCHEMA = "medbridge.record/1"
_STDERR_SUFFIXES = ("_stderr_clt", "_stderr_clustered")


def _clean(value):
    """JSON has no NaN: undefined values (pass@k with n < k) become null, also inside dicts."""
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        return None
    return value


def software_versions() -> dict:
    out = {}
    for dist in ("medbridge", "lmms-eval", "transformers", "torch", "datasets"):
        try:
            out[dist] = version(dist)
        except PackageNotFoundError:
            out[dist] = None
    return out


def task_metrics(task_results: dict) -> dict:
    """``{"acc@1,none": .5, "acc@1_stderr,none": .1, ...}`` -> ``{"acc@1": {"value", "stderr", "filter"}}``."""
    metrics: dict[str, dict] = {}
    for key, value in task_results.items():
        if "," not in key:
            continue
        name, filt = key.split(",", 1)
        if name.endswith(_STDERR_SUFFIXES):
            continue
        if name.endswith("_stderr"):
            metrics.setdefault(name[: -len("_stderr")], {})["stderr"] = _clean(value if isinstance(value, (int, float)) else None)
        else:
            entry = metrics.setdefault(name, {})
            entry["value"] = _clean(value)
            entry["filter"] = filt
    return {k: {"value": v.get("value"), "stderr": v.get("stderr"), "filter": v.get("filter")} for k, v in sorted(metrics.items())}


def split_breakdowns(metrics: dict) -> tuple[dict, dict]:
    """Scalar metrics, and the dict-valued ``by_*`` breakdowns ({group: {metric: mean, n}})."""
    scalar = {k: v for k, v in metrics.items() if not isinstance(v["value"], dict)}
    return scalar, {k: v["value"] for k, v in metrics.items() if isinstance(v["value"], dict)}


def build_records(results: dict, *, model: str, fingerprint: str, backend: str, model_args: str, data: dict, date: str | None = None) -> list[dict]:
    """One record per evaluated task (groups are derived from tasks, so they get none);
    ``data`` maps each task to what describes its data (source, location, protocol, counts)."""
    date = date or _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
    versions = software_versions()
    records = []
    for task, config in sorted(results["configs"].items()):
        if task not in results["results"]:
            continue
        n = results["n-samples"][task]
        repeats = int(config.get("repeats") or 1)
        generation = dict(config.get("generation_kwargs") or {})
        generation["n"] = repeats
        metrics, breakdowns = split_breakdowns(task_metrics(results["results"][task]))
        records.append(
            {
                "schema": SCHEMA,
                "model": {"id": model, "fingerprint": fingerprint, "backend": backend, "model_args": model_args},
                "task": {
                    "name": task,
                    "config_hash": task_config_hash(config),
                    "version": (config.get("metadata") or {}).get("version"),
                    "split": config.get("test_split"),
                },
                "generation": generation,
                "data": data.get(task, {}),
                "n_docs": n["effective"],
                "n_docs_available": n["original"],
                "n_samples": n["effective"] * repeats,
                "limited": n["effective"] < n["original"],
                "metrics": metrics,
                "breakdown": breakdowns,
                "provenance": {"kind": "measured", "how": "medbridge eval (lmms-eval)"},
                "versions": versions,
                "date": date,
            }
        )
    return records


def write_json_atomic(path: Path, payload) -> None:
    """Write via a temporary file and rename, so a crash never leaves a half-written record."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(payload, f, indent=2, sort_keys=True, allow_nan=False)
            f.write("\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def write_records(records: list[dict], folder: Path) -> list[Path]:
    paths = []
    for record in records:
        path = Path(folder) / f"{record['task']['name']}.json"
        write_json_atomic(path, record)
        paths.append(path)
    return paths


def summary_line(record: dict) -> str:
    """``medmnist_breast  n=84  acc@1=0.512±0.055  no_answer_rate=0.012``"""
    parts = [f"{record['task']['name']:<28} n={record['n_docs']:<5}"]
    for name, m in record["metrics"].items():
        value = "nan" if m["value"] is None else f"{m['value']:.3f}"
        if m["stderr"] is not None and m["value"] is not None:
            value += f"±{m['stderr']:.3f}"
        parts.append(f"{name}={value}")
    return "  ".join(parts)
