"""``python -m medbridge.training sft|grpo --config ...``: what ``accelerate launch -m
medbridge.training`` runs in every process (same arguments and errors as ``medbridge train``)."""

import argparse
import sys

from medbridge.harness.cli import train_cmd
from medbridge.harness.errors import MedbridgeError


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m medbridge.training", description="SFT / GRPO-CARE training (one process of a launch)")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    train_cmd.add_arguments(parser)
    args = parser.parse_args(argv)
    try:
        return train_cmd.run(args)
    except MedbridgeError as exc:
        if args.debug:
            raise
        print(f"medbridge: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
