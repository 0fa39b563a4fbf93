"""``run_card.json``: what a training run was, written beside its final weights.

It carries the lineage evaluation and leaderboards need (``medbridge eval`` on the checkpoint
writes it into every record; ``medbridge leaderboard add`` takes parent / stage / trained-on
from there): the run's name, the model it started from (its fingerprint, and its own run card's
name when it has one), the base model at the root of the chain, stage and algorithm, the data
(which docs, hashed), the fully resolved config, steps, wall time, the Pass@K monitor history,
the seed and the software versions.
"""

from __future__ import annotations

import datetime as _dt
import json
from pathlib import Path

from medbridge.harness.atomic_write import write_text_atomic
from medbridge.harness.fingerprint import checkpoint_fingerprint, looks_like_path
from medbridge.harness.records import RUN_CARD, read_run_card, software_versions

SCHEMA = "medbridge.run_card/1"
ALGORITHMS = {"sft": "sft", "grpo": "grpo", "grpo_care": "grpo_care"}


def _versions() -> dict:
    return software_versions("trl", "accelerate", "peft", "deepspeed")


def parent_lineage(model: str) -> dict:
    """Name, fingerprint and base model of the checkpoint a run starts from."""
    card = read_run_card(model) if looks_like_path(model) else None
    name = card["name"] if card else Path(model.rstrip("/")).name
    return {
        "parent": name,
        "parent_checkpoint": model,
        "parent_fingerprint": checkpoint_fingerprint(model),
        "base_model": card["base_model"] if card else model,
        "lineage": list(card.get("lineage") or [name]) if card else [name],
    }


def build_run_card(*, name: str, kind: str, use_care: bool, config: dict, parent: dict, data: dict, monitor_data: dict | None,
                   trained_on: list[str], steps: int, wall_seconds: float, history: list[dict], seed: int, resumed_from: list[str]) -> dict:
    algorithm = "sft" if kind == "sft" else ("grpo_care" if use_care else "grpo")
    return {
        "schema": SCHEMA,
        "name": name,
        "stage": "sft" if kind == "sft" else "rl",
        "algorithm": ALGORITHMS[algorithm],
        **parent,
        "lineage": [*parent["lineage"], name],
        "trained_on": trained_on,
        "data": data,
        "monitor_data": monitor_data,
        "config": config,
        "steps": steps,
        "wall_seconds": round(wall_seconds, 3),
        "monitor_history": history,
        "seed": seed,
        "resumed_from": resumed_from,
        "versions": _versions(),
        "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }


def write_run_card(folder: Path, card: dict) -> Path:
    path = Path(folder) / RUN_CARD
    write_text_atomic(path, json.dumps(card, indent=2, sort_keys=True, allow_nan=False) + "\n")
    return path
