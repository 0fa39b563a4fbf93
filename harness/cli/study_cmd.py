"""``medbridge study run STUDY.yaml [--dry-run] [--root DIR] [--runs DIR]``."""

from __future__ import annotations


def add_parser(sub) -> None:
    p = sub.add_parser("study", help="run a declarative study: models, SFT / GRPO-CARE stages, evaluations, leaderboard")
    ssub = p.add_subparsers(dest="study_command", required=True, metavar="ACTION")
    r = ssub.add_parser("run", help="run what is not finished (in dependency order), then leaderboard add + build")
    r.add_argument("study", help="study YAML, e.g. studies/tiny.yaml")
    r.add_argument("--dry-run", action="store_true", help="print the plan (what runs, what is reused) and stop")
    r.add_argument("--root", default=None, help="leaderboard folder to add to and build (default: the study's `leaderboard`)")
    r.add_argument("--runs", default=None, help="folder of the stage folders (default: the study's `runs`)")
    r.set_defaults(func=run)


def run(args) -> int:
    from ..study import run_study

    outcome = run_study(args.study, dry_run=args.dry_run, root=args.root, runs=args.runs)
    return 0 if outcome.ok else 2
