"""``medbridge leaderboard add|build|seed-paper``: results -> records -> pages (see harness/leaderboard)."""

from __future__ import annotations

import sys

ROOT_HELP = "leaderboard folder (default: ./leaderboards, the repository's)"
NEW_ROOT_HELP = ROOT_HELP + "; an explicit folder is created when missing"


def add_parser(sub) -> None:
    p = sub.add_parser("leaderboard", help="add results to the leaderboards and regenerate their pages")
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")

    add = actions.add_parser("add", help="turn evaluation output folders into leaderboard records")
    add.add_argument("outputs", nargs="+", metavar="OUTPUT_DIR", help="a `medbridge eval --output` folder or an `lmms-eval --output_path` folder (with --log_samples)")
    add.add_argument("--root", default=None, help=NEW_ROOT_HELP)
    add.add_argument("--name", default=None, help="row name (default: the hub id's name or the checkpoint folder's name)")
    add.add_argument("--parent", default=None, help="name of the model this one was trained from: its rows then show the paired difference")
    add.add_argument("--stage", default=None, choices=["base", "sft", "rl"], help="training stage of this model")
    add.add_argument("--trained-on", default=None, help="comma-separated datasets this stage trained on, e.g. organa (feeds the RL transfer table)")
    add.add_argument("--allow-limited", action="store_true", help="accept runs made with --limit (partial test sets)")
    add.add_argument("--without-samples", action="store_true", help="accept records that have no per-question sample log (no paired tests for them)")
    add.set_defaults(func=run_add)

    build = actions.add_parser("build", help="regenerate the pages and plots from the records")
    build.add_argument("--root", default=None, help=ROOT_HELP)
    build.add_argument("--check", action="store_true", help="write nothing; exit 1 with a diff when the files are not what the records produce")
    build.set_defaults(func=run_build)

    seed = actions.add_parser("seed-paper", help="write the paper's reported numbers (Tables 1-3) as reported records")
    seed.add_argument("--root", default=None, help=NEW_ROOT_HELP)
    seed.set_defaults(func=run_seed)


def run_add(args) -> int:
    from ..leaderboard import add_output, collect, prepare, resolve_root, write_record

    trained_on = [t.strip() for t in (args.trained_on or "").split(",") if t.strip()] or None
    lineage = {"name": args.name, "parent": args.parent, "stage": args.stage, "trained_on": trained_on, "allow_limited": args.allow_limited}
    require = not args.without_samples
    if len(args.outputs) == 1:
        paths = add_output(args.outputs[0], args.root, require_samples=require, **lineage)
    else:  # check every folder before writing any record
        records = [r for folder in args.outputs for r in prepare(collect(folder, require), **lineage)]
        root = resolve_root(args.root, create=True)
        paths = [write_record(root, r) for r in records]
    for path in paths:
        print(path)
    print(f"medbridge: {len(paths)} record(s) added; run `medbridge leaderboard build` to regenerate the pages", file=sys.stderr)
    return 0


def run_build(args) -> int:
    from ..leaderboard import build, check

    if args.check:
        problems = check(args.root)
        if problems:
            print("\n\n".join(problems))
            print(f"medbridge: {len(problems)} generated file(s) are not what the records produce; run `medbridge leaderboard build` and commit the result", file=sys.stderr)
            return 1
        print("medbridge: leaderboards are up to date", file=sys.stderr)
        return 0
    changed = build(args.root)
    for name in changed:
        print(name)
    print(f"medbridge: {len(changed)} file(s) regenerated", file=sys.stderr)
    return 0


def run_seed(args) -> int:
    from ..leaderboard import seed_paper

    paths = seed_paper(args.root)
    print(f"medbridge: {len(paths)} reported record(s) written", file=sys.stderr)
    return 0
