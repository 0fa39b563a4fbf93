"""``medbridge study run``: plan, run what is not finished in dependency order, then leaderboard.

A stage that fails prints one line naming it and the cause; the stages that depend on it are
skipped, the others still run; the evaluations that finished are added to the leaderboard and
the run exits non-zero. Rerunning the study reuses every finished stage.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import MedbridgeError
from ..host import environment
from .execute import run_node, runs_lock, write_failure
from .plan import Planned, Planner, describe
from .spec import Study, load_study


@dataclass
class Outcome:
    study: Study
    planned: list[Planned]
    ran: list[str] = field(default_factory=list)
    reused: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)  # stage -> cause
    skipped: dict[str, str] = field(default_factory=dict)  # stage -> the failed ancestor
    records: list[Path] = field(default_factory=list)
    pages: list[str] = field(default_factory=list)
    root: Path | None = None

    @property
    def ok(self) -> bool:
        return not self.failed and not self.skipped


def _say(message: str) -> None:
    print(f"medbridge: {message}", file=sys.stderr, flush=True)


def vqa_environment(study: Study) -> dict[str, str]:
    from ..sources.vqa import check_name, env_var

    return {env_var(check_name(name)): str(path) for name, path in study.data.vqa.items()}


def run_study(path: str | Path, *, dry_run: bool = False, root: str | Path | None = None, runs: str | Path | None = None,
              out=None) -> Outcome:
    out = out or sys.stdout
    study = load_study(path, runs=runs, leaderboard=root)
    with environment(vqa_environment(study)):
        if dry_run:
            return _plan(study, out)[2]
        with runs_lock(study.runs):  # planned under the lock: another run may have finished stages
            return _run(study, *_plan(study, out), out)


def _plan(study: Study, out) -> tuple[Planner, list[Planned], Outcome]:
    planner = Planner(study)
    planned = planner.plan()
    print(f"study {study.name}: {len(planned)} nodes, stage folders in {study.runs}, leaderboard {study.leaderboard}", file=out)
    for line in describe(planned):
        print(f"  {line}", file=out)
    return planner, planned, Outcome(study, planned, root=study.leaderboard)


def _run(study: Study, planner: Planner, planned: list[Planned], outcome: Outcome, out) -> Outcome:
    planner.link_medmnist_files()
    broken: dict[str, str] = {}  # node -> the failed node it depends on (itself when it failed)
    to_run = {p.node.name for p in planned if p.action in ("run", "resume")}
    for p in planned:
        name = p.node.name
        if p.node.parent in broken:
            broken[name] = broken[p.node.parent]
            outcome.skipped[name] = broken[name]
            _say(f"stage {name!r} skipped: {broken[name]!r} failed")
            continue
        if p.action in ("use", "reuse"):
            if p.action == "use" and study.descendants(name) & to_run:  # only a checkpoint something still needs
                try:
                    _check_model(p)
                except MedbridgeError as exc:
                    _fail(outcome, broken, p, str(exc))
                    continue
            outcome.reused.append(name)
            continue
        _say(f"stage {name!r}: {'resuming' if p.action == 'resume' else 'running'} {p.node.kind} -> {p.folder}")
        try:
            run_node(planner, p)
        except MedbridgeError as exc:
            _fail(outcome, broken, p, str(exc))
            continue
        except Exception as exc:  # a bug or a library failure: still one line, the study goes on
            _fail(outcome, broken, p, f"{type(exc).__name__}: {exc} (rerun with --debug for the traceback)")
            if "--debug" in sys.argv:
                raise
            continue
        outcome.ran.append(name)
    done = [p for p in planned if p.node.kind == "eval" and p.node.name not in outcome.failed and p.node.name not in outcome.skipped]
    if done:
        from .board import add_and_build

        outcome.records, outcome.pages = add_and_build(planner, done, study.leaderboard)
        print(f"leaderboard {study.leaderboard}: {len(outcome.records)} records from {len(done)} evaluations; "
              f"{len(outcome.pages)} pages changed", file=out)
    print(f"study {study.name}: ran {len(outcome.ran)}, reused {len(outcome.reused)}, failed {len(outcome.failed)}, skipped {len(outcome.skipped)}", file=out)
    return outcome


def _check_model(planned: Planned) -> None:
    from ..fingerprint import check_checkpoint

    check_checkpoint(planned.node.path)


def _fail(outcome: Outcome, broken: dict, planned: Planned, cause: str) -> None:
    name = planned.node.name
    cause = " ".join(cause.split())  # one line, whatever the library said
    outcome.failed[name] = cause
    broken[name] = name
    if planned.node.kind != "model" or planned.node.build:
        write_failure(planned, cause)
    _say(f"stage {name!r} failed: {cause}")
