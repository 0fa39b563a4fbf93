"""``medbridge train sft|grpo``: SFT and GRPO / GRPO-CARE on TRL (``pip install "medbridge[train]"``).

TRL is imported only when this command runs, so ``medbridge eval`` never pays for it. Several
GPUs or nodes: ``accelerate launch [--config_file training/accelerate/zero3.yaml] -m
medbridge.training sft|grpo --config ...`` runs the same code in every process.
"""

from __future__ import annotations

import sys


def add_arguments(p) -> None:
    p.add_argument("kind", choices=["sft", "grpo"], help="sft, or grpo (GRPO-CARE unless the config sets use_care: false)")
    p.add_argument("--config", required=True, help="training YAML, e.g. training/configs/tiny_sft.yaml")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", dest="overrides",
                   help="override a config value (repeatable), e.g. --set learning_rate=1e-5 --set data.limit=64")
    p.add_argument("--resume", action="store_true", help="continue from the newest complete checkpoint in output_dir")


def add_parser(sub) -> None:
    p = sub.add_parser("train", help="post-train a VLM: SFT or GRPO-CARE on MCQ docs (TRL underneath)")
    add_arguments(p)
    p.set_defaults(func=run)


def run(args) -> int:
    from ..errors import ConfigError

    try:
        from medbridge.training.train import run as train
    except ImportError as exc:
        raise ConfigError(f"training needs the train extra ({exc.name} is not installed)", fix='pip install "medbridge[train]"') from exc
    card = train(args.kind, args.config, args.overrides, resume=args.resume)
    print(f"medbridge: {card['algorithm']} run {card['name']!r}: {card['steps']} steps in {card['wall_seconds']:.0f} s; "
          f"model and run card in {card['config']['output_dir']}/model", file=sys.stderr)
    return 0
