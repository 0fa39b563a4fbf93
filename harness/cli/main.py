"""``medbridge`` command line: eval, train, study, recipe, demo, make-tiny-model, data, tasks, leaderboard, diagnose, probe, baseline, judge.

Errors a user can fix (MedbridgeError) print one line and exit 2; ``--debug`` shows the
traceback. Anything else is a bug and exits 1 with its traceback.
"""

from __future__ import annotations

import argparse
import sys

from ..errors import MedbridgeError
from ..host import fewer_full_collections, skip_exit_collections
from . import (
    baseline_cmd,
    data_cmd,
    demo_cmd,
    diagnose_cmd,
    eval_cmd,
    judge_cmd,
    leaderboard_cmd,
    probe_cmd,
    recipe_cmd,
    study_cmd,
    tasks_cmd,
    tiny_cmd,
    train_cmd,
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="medbridge", description="Evaluate and post-train medical VLMs: Acc@1 vs Pass@K on MedMNIST and medical VQA.")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in (eval_cmd, train_cmd, study_cmd, recipe_cmd, demo_cmd, tiny_cmd, data_cmd, tasks_cmd, leaderboard_cmd, diagnose_cmd, probe_cmd, baseline_cmd, judge_cmd):
        module.add_parser(sub)
    return parser


def _configure_logs(debug: bool) -> None:
    """lmms-eval logs through loguru at DEBUG by default (dozens of lines while it indexes
    tasks): keep its warnings and medbridge's own info lines; ``--debug`` shows everything.
    The sink looks ``sys.stderr`` up per line, so a redirected stderr is followed."""
    from loguru import logger

    logger.remove()
    logger.add(lambda line: sys.stderr.write(line), level="DEBUG" if debug else "INFO", filter=None if debug else {"": "WARNING", "medbridge": "INFO"})


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    _configure_logs(args.debug)
    try:
        return int(args.func(args) or 0)
    except MedbridgeError as exc:
        if args.debug:
            raise
        print(f"medbridge: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("medbridge: interrupted", file=sys.stderr)
        return 130


def console_main(argv=None) -> int:
    """The ``medbridge`` executable (and ``python -m medbridge.harness``): :func:`main` with
    fewer full garbage collections while torch and lmms-eval import, and an exit without the
    interpreter's final ones (seconds with torch loaded; see ``host``). Library callers of
    :func:`main` (tests, notebooks) keep the collector as they set it."""
    fewer_full_collections()
    try:
        return main(argv)
    finally:
        skip_exit_collections()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(console_main())
