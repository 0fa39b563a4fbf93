"""Running one planned node: build a model, train (in this process or through ``accelerate
launch``), or evaluate; and the ``stage.json`` marker written only once a node is complete.

Training is imported lazily (``medbridge.training``), so a study of evaluations never loads TRL.
A training stage resumes from its newest complete checkpoint when a killed study is rerun;
an evaluation always starts from an empty output folder (the sample cache makes the rerun
cheap), so no stale lmms-eval log from a killed run can be read as its result.
"""

from __future__ import annotations

import datetime as _dt
import os
import shutil
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

from ..errors import ConfigError, MedbridgeError
from ..folder_lock import FolderLock
from ..records import write_json_atomic
from .plan import MARKER, Planned, Planner

FAILED = "failed.json"


class StageFailed(MedbridgeError):
    """A stage ended with an error (the message is its cause)."""


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def write_marker(planned: Planned, started: float, **extra) -> dict:
    marker = {"schema": "medbridge.study-stage/1", "name": planned.node.name, "kind": planned.node.kind, "key": planned.key,
              "status": "done", "inputs": planned.inputs, "finished": _now(), "wall_seconds": round(time.perf_counter() - started, 3), **extra}
    write_json_atomic(planned.folder / MARKER, marker)
    (planned.folder / FAILED).unlink(missing_ok=True)
    return marker


def write_failure(planned: Planned, cause: str) -> None:
    planned.folder.mkdir(parents=True, exist_ok=True)
    write_json_atomic(planned.folder / FAILED, {"name": planned.node.name, "key": planned.key, "cause": cause, "when": _now()})


@contextmanager
def runs_lock(runs: Path):
    """One study or recipe run at a time per runs folder (two would train into the same stage
    folders). An OS lock: it goes away with the process, however that ends."""
    with FolderLock(runs / ".lock", what="another study run is using this runs folder",
                    fix="wait for it to finish, or pass another --runs"):
        yield


def run_model(planner: Planner, planned: Planned) -> dict:
    """``build: tiny``: the offline tiny checkpoint, into the node's folder."""
    from ..tiny_model import build_tiny_qwen2_5_vl

    started = time.perf_counter()
    if planned.folder.exists():
        shutil.rmtree(planned.folder)  # a build killed half-way
    partial = planned.folder.with_name(planned.folder.name + ".partial")
    if partial.exists():
        shutil.rmtree(partial)
    build_tiny_qwen2_5_vl(partial / planned.node.name)
    os.replace(partial, planned.folder)
    return write_marker(planned, started, model=planned.model_ref)


def _launch_command(planned: Planned, overrides: list[str], resume: bool) -> list[str]:
    launch = planned.node.launch or {}
    bindir = Path(sys.executable).parent
    cmd = [str(bindir / "accelerate"), "launch"]
    if launch.get("accelerate_config"):
        cmd += ["--config_file", str(launch["accelerate_config"])]
    if launch.get("num_processes"):
        cmd += ["--num_processes", str(int(launch["num_processes"]))]
    cmd += [str(a) for a in launch.get("args") or []]
    cmd += ["-m", "medbridge.training", "sft" if planned.node.kind == "sft" else "grpo", "--config", str(planned.node.config)]
    for item in overrides:
        cmd += ["--set", item]
    if resume:
        cmd.append("--resume")
    return cmd


def _last_error(log: Path) -> str:
    lines = log.read_text(errors="replace").splitlines() if log.is_file() else []
    mine = [ln for ln in lines if ln.startswith("medbridge: error:")]
    if mine:
        return mine[-1].removeprefix("medbridge: error:").strip()
    tail = [ln for ln in lines if ln.strip()][-1:] or ["no output"]
    return f"accelerate launch failed ({tail[0].strip()[:200]}); log: {log}"


def run_train(planner: Planner, planned: Planned) -> dict:
    started = time.perf_counter()
    resume = planned.action == "resume"
    overrides = planner.runtime_overrides(planned)
    planned.folder.mkdir(parents=True, exist_ok=True)
    final = planned.run_dir / "model"
    from ..records import read_run_card

    if resume or not (final.is_dir() and read_run_card(str(final))):
        _train(planned, overrides, resume)
    # else: killed after the final model was renamed into place, before the marker: it is complete
    card = read_run_card(str(final))
    if card is None:
        raise StageFailed(f"training ended without a final model and run card in {final}")
    rollback = None
    if planned.node.guard == "rollback":
        from medbridge.training.rollback import rollback_to_best

        rollback = rollback_to_best(planned.run_dir)
    return write_marker(planned, started, model=planned.model_ref, steps=card.get("steps"), resumed=resume, rollback=rollback,
                        monitor=card.get("monitor_history") or [])


def _train(planned: Planned, overrides: list[str], resume: bool) -> None:
    if planned.node.launch is not None:
        log = planned.folder / "train.log"
        cmd = _launch_command(planned, overrides, resume)
        with log.open("a") as f:
            f.write(f"$ {' '.join(cmd)}\n")
            f.flush()
            done = subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT, check=False)
        if done.returncode != 0:
            raise StageFailed(_last_error(log))
        return
    try:
        from medbridge.training.train import run as train
    except ImportError as exc:
        raise ConfigError(f"training stages need the train extra ({exc.name} is not installed)", fix='pip install "medbridge[train]"') from exc
    train("sft" if planned.node.kind == "sft" else "grpo", str(planned.node.config), overrides, resume=resume)


def run_eval(planner: Planner, planned: Planned) -> dict:
    from ..lmms.evaluation import evaluate

    started = time.perf_counter()
    target = planner.planned[planned.node.parent]
    settings = planner.eval_settings(planned.node)
    out = planned.eval_dir
    if out.exists():
        shutil.rmtree(out)  # whatever a killed evaluation left
    planned.folder.mkdir(parents=True, exist_ok=True)
    records = evaluate(
        target.model_ref,
        planned.node.tasks,
        out,
        backend=settings["backend"],
        model_args=settings.get("model_args"),
        gen_kwargs=settings.get("gen_kwargs"),
        limit=settings.get("limit"),
        device=settings.get("device"),
        batch_size=int(settings.get("batch_size") or 1),
        data_root=str(planner.medmnist_root) if planner.medmnist_root else None,
        size=settings.get("size"),
        per_class=settings.get("per_class"),
        seed=int(settings.get("seed") or 0),
        data={k: str(v) for k, v in planner.study.data.vqa.items()} or None,
        include_path=settings.get("include_path"),
    )
    summary = {r["task"]["name"]: {m: v["value"] for m, v in r["metrics"].items() if m in ("acc@1", "pass@16", "no_answer_rate")} for r in records}
    return write_marker(planned, started, model=target.model_ref, output=str(out), metrics=summary)


RUNNERS = {"model": run_model, "sft": run_train, "grpo": run_train, "eval": run_eval}


def run_node(planner: Planner, planned: Planned) -> dict:
    return RUNNERS[planned.node.kind](planner, planned)
