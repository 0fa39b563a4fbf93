"""``medbridge make-tiny-model PATH``: the offline test/demo checkpoint."""

from __future__ import annotations


def add_parser(sub) -> None:
    p = sub.add_parser("make-tiny-model", help="build a tiny random Qwen2.5-VL checkpoint offline (plumbing tests, demo)")
    p.add_argument("path", help="folder to write the checkpoint to")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--random", action="store_true", help="skip teaching the answer format (pure random weights)")
    p.set_defaults(func=run)


def run(args) -> int:
    from ..tiny_model import build_tiny_qwen2_5_vl

    path = build_tiny_qwen2_5_vl(args.path, seed=args.seed, teach_format=not args.random)
    print(path)
    return 0
