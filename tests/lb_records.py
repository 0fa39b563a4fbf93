"""Constructed leaderboard records for tests: valid ``medbridge.record/1`` with per-question scores."""

from __future__ import annotations

import json
from pathlib import Path

from medbridge.harness.records import SCHEMA


def measured(model: str, task: str, scores: dict[str, list[float]], *, parent=None, stage=None, trained_on=None, targets=None) -> dict:
    """A measured record whose metric values are the means of ``scores`` (one value per question)."""
    n = len(next(iter(scores.values())))
    entry = {"id": f"/ckpt/{model}", "display_name": model, "fingerprint": f"sha256:{model}", "backend": "qwen2_5_vl", "model_args": ""}
    entry.update({k: v for k, v in (("parent", parent), ("stage", stage), ("trained_on", trained_on)) if v is not None})
    metrics = {}
    for name, values in scores.items():
        defined = [v for v in values if v is not None]
        metrics[name] = {"value": sum(defined) / len(defined) if defined else None, "stderr": None, "filter": "none"}
    return {
        "schema": SCHEMA,
        "model": entry,
        "task": {"name": task, "config_hash": f"sha256:{task}", "version": 1.0},
        "generation": {"n": 16 if task.endswith("_passk") else 1},
        "data": {"medmnist_size": 224, "medmnist_per_class": None, "subset_seed": 0},
        "n_docs": n,
        "n_docs_available": n,
        "n_samples": n,
        "limited": False,
        "metrics": metrics,
        "provenance": {"kind": "measured", "how": "constructed in a test"},
        "versions": {},
        "date": "2026-01-01T00:00:00+00:00",
        "per_doc": {"doc_id": list(range(n)), "target": targets or ["A"] * n, "scores": scores},
    }


def write(root: Path, record: dict) -> Path:
    from medbridge.harness.leaderboard import write_record

    return write_record(root, record)


def dump(path: Path, payload) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload))
    return path
