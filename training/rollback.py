"""Roll a finished run back to its best monitored checkpoint when the Pass@K monitor saw support
collapse (the recipe's guard against over-sharpening).

The monitor's history ranks every evaluated step by Pass@K (ties: Acc@1, then the later step);
the monitor marks the best step so checkpoint rotation keeps it (``state.best_global_step``).
Rolling back copies that checkpoint's model files (weights, config, processor; not optimizer or
EMA state) into ``model/``, keeps the collapsed final weights as ``model-collapsed/`` and writes
the decision into the run card. Step 0 is the starting checkpoint itself.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from medbridge.harness.errors import CheckpointError
from medbridge.harness.records import RUN_CARD

from .checkpoints import COMPLETE_MARKER, checkpoints_dir, final_model_dir
from .run_card import write_run_card

# What a checkpoint holds besides the model: never part of a model folder.
_TRAINER_FILES = {"optimizer.pt", "scheduler.pt", "scaler.pt", "trainer_state.json", "training_args.bin", COMPLETE_MARKER,
                  "medbridge_run_state.json", "ema_reference"}


def top_metric(history: list[dict]) -> str:
    ks = [int(k.split("@")[1]) for k in history[0] if k.startswith("pass@")]
    return f"pass@{max(ks)}"


def rank(entry: dict, top: str) -> tuple:
    return (entry[top], entry["acc@1"], entry["step"])


def best_entry(history: list[dict]) -> dict:
    top = top_metric(history)
    return max(history, key=lambda e: rank(e, top))


def _copy_model_files(source: Path, target: Path) -> None:
    target.mkdir(parents=True)
    for item in source.iterdir():
        if item.name in _TRAINER_FILES or item.name.startswith(("rng_state", ".")) or item.name == RUN_CARD:
            continue
        (shutil.copytree if item.is_dir() else shutil.copy2)(item, target / item.name)


def _export_parent(card: dict, target: Path) -> None:
    parent = Path(str(card["parent_checkpoint"])).expanduser()
    if parent.is_dir():
        _copy_model_files(parent, target)
        return
    from transformers import AutoModelForImageTextToText, AutoProcessor  # a hub parent: write it out

    AutoModelForImageTextToText.from_pretrained(card["parent_checkpoint"]).save_pretrained(target)
    AutoProcessor.from_pretrained(card["parent_checkpoint"]).save_pretrained(target)


def rollback_to_best(run_dir: str | Path) -> dict | None:
    """If the run's monitor saw a collapse, make ``model/`` the best monitored checkpoint and
    return the decision (also written into the run card as ``rollback``); else None."""
    run_dir = Path(run_dir)
    final = final_model_dir(run_dir)
    card = json.loads((final / RUN_CARD).read_text())
    if card.get("rollback"):  # done already (a rerun after a kill)
        return card["rollback"]
    history = card.get("monitor_history") or []
    collapsed = [e for e in history if e.get("collapsed")]
    if not collapsed:
        return None
    top = top_metric(history)
    best, last = best_entry(history), history[-1]
    decision = {"metric": top, "collapsed_at": collapsed[0]["step"], "final_step": card["steps"], "best_step": best["step"],
                "first": history[0][top], "best": best[top], "final": last[top], "best_acc@1": best["acc@1"], "final_acc@1": last["acc@1"]}
    if best["step"] == last["step"] == card["steps"]:
        decision["action"] = "kept the final weights (they are the best monitored)"
        return decision
    partial = run_dir / ".model.rollback"
    if partial.exists():
        shutil.rmtree(partial)
    if best["step"] == 0:
        _export_parent(card, partial)
        decision["action"] = "rolled back to the starting checkpoint (step 0): training never beat its support"
    else:
        source = checkpoints_dir(run_dir) / f"checkpoint-{best['step']}"
        if not (source / COMPLETE_MARKER).is_file():
            raise CheckpointError(f"the best monitored step ({best['step']}) has no complete checkpoint to roll back to", where=str(source),
                                  fix="save a checkpoint at every monitored step (save_steps dividing monitor_every)")
        _copy_model_files(source, partial)
        decision["action"] = f"rolled back to checkpoint-{best['step']}"
    write_run_card(partial, {**card, "rollback": decision})
    kept = run_dir / "model-collapsed"
    if kept.exists():
        shutil.rmtree(kept)
    os.replace(final, kept)
    os.replace(partial, final)
    return decision
