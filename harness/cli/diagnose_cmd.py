"""``medbridge diagnose``: S_K, A, gap and the recipe's advice per model x task (harness/leaderboard/diagnose.py)."""

from __future__ import annotations

import sys


def add_parser(sub) -> None:
    # Defaults are filled in run() from harness/leaderboard/diagnose.py, so `medbridge --help`
    # does not import numpy; the help texts name them.
    p = sub.add_parser("diagnose", help="support diagnosis: Pass@K vs Acc@1 and whether to bridge (SFT) or sharpen (RL)")
    p.add_argument("--records", nargs="+", required=True, metavar="PATH", help="record files or folders (a leaderboard folder, an eval output folder, a folder of records)")
    p.add_argument("--k", type=int, default=None, help="sampling budget K of S_K = Pass@K (default 16)")
    p.add_argument("--tau", type=float, default=None, help="support threshold: bridge when S_K < tau (default 0.5)")
    p.add_argument("--gap", type=float, default=None, help="gap S_K - A from which to sharpen (default 0.10)")
    p.add_argument("--format", choices=["markdown", "csv", "json"], default="markdown", help="table format on stdout")
    p.add_argument("--plot", default=None, metavar="PNG", help="also write the A vs S_K scatter with the tau line here")
    p.set_defaults(func=run)


def run(args) -> int:
    from ..leaderboard.diagnose import (
        DEFAULT_GAP,
        DEFAULT_K,
        DEFAULT_TAU,
        diagnose,
        diagnosis_csv,
        diagnosis_json,
        diagnosis_plot,
        diagnosis_table,
    )
    from ..leaderboard.store import load_records

    args.k = DEFAULT_K if args.k is None else args.k
    args.tau = DEFAULT_TAU if args.tau is None else args.tau
    args.gap = DEFAULT_GAP if args.gap is None else args.gap
    rows = diagnose(load_records(*args.records), k=args.k, tau=args.tau, gap=args.gap)
    text = {"markdown": lambda: diagnosis_table(rows, args.tau, args.gap), "csv": lambda: diagnosis_csv(rows), "json": lambda: diagnosis_json(rows)}[args.format]()
    print(text.rstrip("\n"))
    if args.plot:
        from pathlib import Path

        from ..atomic_write import write_bytes_atomic

        write_bytes_atomic(Path(args.plot), diagnosis_plot(rows, args.tau))
        print(f"medbridge: plot written to {args.plot}", file=sys.stderr)
    return 0
