"""Step time of medbridge's trainers against bare TRL on the same rows and settings.

Arms (each a fresh trainer on the same docs, seed, batch and generation settings):

- SFT:   (a) TRL ``SFTTrainer``            vs (b) medbridge's ``MedbridgeSFTTrainer``   target b/a <= 1.05
- GRPO:  (c) TRL ``GRPOTrainer`` with the same accuracy + format rewards
         (d) ``GRPOCareTrainer`` with ``use_care: false`` (vanilla GRPO through medbridge)
         (e) ``GRPOCareTrainer`` (GRPO-CARE: + EMA scoring pass every step, EMA update every
             ``--ema-every`` steps: 10 as shipped, 1 for the worst case)               target e/c <= 1.3

Every completion is forced to the same length (``min_new_tokens = max_completion_length``), so
the arms decode the same number of tokens whatever their policies do. Arms are interleaved, each
is repeated ``--repeats`` times, the first ``--warmup`` steps of each run are dropped, and the
table prints min / median / max of the per-run mean step time and of each ratio (ratios pair the
arms of the same repeat). Thread count is fixed and printed.

    python benchmarks/training_speed.py [--steps 21] [--repeats 3] [--threads 2] [--ema-every 10] [--data-root DIR]
    python benchmarks/training_speed.py --model CKPT --set bf16=true --steps 6 --length 128   # on a GPU: + peak memory per arm

Without --data-root it writes the generated MedMNIST-format sample (tiny_model's plumbing data).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


class _StepTimer:
    def __init__(self):
        from transformers import TrainerCallback

        timer = self

        class CB(TrainerCallback):
            def on_step_begin(self, args, state, control, **kw):
                timer.t0 = time.perf_counter()

            def on_step_end(self, args, state, control, **kw):
                timer.steps.append(time.perf_counter() - timer.t0)

        self.steps: list[float] = []
        self.callback = CB()


def _sft_arm(arm: str, model: str, root: str, out: str, steps: int, extra: list[str]):
    from medbridge.training.config import load_config
    from medbridge.training.data import sft_dataset, training_docs
    from medbridge.training.sft import build_sft_trainer
    from medbridge.training.train import _processor
    from trl import SFTTrainer

    config = load_config(REPO / "training/configs/tiny_sft.yaml", "sft",
                         [f"model={model}", f"output_dir={out}", f"data.root={root}", f"max_steps={steps}", "save_strategy=no",
                          "logging_steps=1000", "per_device_train_batch_size=8", "monitor_every=0", *extra])
    processor, docs, timer = _processor(model, False), training_docs(config.data_config), _StepTimer()
    if arm == "trl":
        trainer = SFTTrainer(model=model, args=config, train_dataset=sft_dataset(docs), processing_class=processor, callbacks=[timer.callback])
    else:
        trainer = build_sft_trainer(config, processor, docs, callbacks=[timer.callback])
    trainer.train()
    return timer.steps


def _grpo_arm(arm: str, model: str, root: str, out: str, steps: int, length: int, ema_every: int, extra: list[str]):
    from medbridge.training.config import load_config
    from medbridge.training.data import grpo_dataset, training_docs
    from medbridge.training.grpo_care import GRPOCareTrainer
    from medbridge.training.rewards import accuracy_reward, format_reward
    from medbridge.training.train import _processor
    from trl import GRPOTrainer

    overrides = [f"model={model}", f"output_dir={out}", f"data.root={root}", f"max_steps={steps}", "save_strategy=no", "logging_steps=1000",
                 f"max_completion_length={length}", f"generation_kwargs={{min_new_tokens: {length}}}", "monitor_every=0",
                 f"care_ema_every={ema_every}", f"use_care={'true' if arm == 'care' else 'false'}", *extra]
    config = load_config(REPO / "training/configs/tiny_grpo_care.yaml", "grpo", overrides)
    processor, timer = _processor(model, False), _StepTimer()
    processor.tokenizer.padding_side = "left"
    data = grpo_dataset(training_docs(config.data_config))
    if arm == "trl":
        trainer = GRPOTrainer(model=model, reward_funcs=[accuracy_reward, format_reward], args=config, train_dataset=data,
                              processing_class=processor, callbacks=[timer.callback])
    else:
        trainer = GRPOCareTrainer(model=model, args=config, train_dataset=data, processing_class=processor, callbacks=[timer.callback])
    trainer.train()
    return timer.steps


def _spread(values: list[float]) -> str:
    return f"{min(values):.3f} / {statistics.median(values):.3f} / {max(values):.3f}"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=21)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--ema-every", type=int, default=10, help="GRPO-CARE's EMA update cadence (shipped: 10)")
    parser.add_argument("--length", type=int, default=32, help="completion tokens per rollout (forced)")
    parser.add_argument("--model", default=None, help="checkpoint (default: the tiny offline Qwen2.5-VL, built here)")
    parser.add_argument("--data-root", default=None, help="MedMNIST folder with pneumoniamnist.npz (28 px)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="config override for every arm, e.g. --set bf16=true on a GPU (repeatable)")
    args = parser.parse_args(argv)
    os.environ.setdefault("TQDM_DISABLE", "1")
    import torch
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    torch.set_num_threads(args.threads)
    work = Path(tempfile.mkdtemp(prefix="medbridge-train-speed-"))
    model = args.model
    if model is None:
        from medbridge.harness.tiny_model import build_tiny_qwen2_5_vl

        model = str(build_tiny_qwen2_5_vl(work / "tiny"))
    root = args.data_root
    if root is None:
        from medbridge.harness.sources.medmnist_sample import write_sample

        write_sample(work / "sample", flags=["pneumoniamnist"], size=28, counts={"train": 64, "val": 8, "test": 8})
        root = str(work / "sample")
    print(f"torch threads {torch.get_num_threads()}, {args.repeats} repeats x {args.steps} steps ({args.warmup} warm-up dropped), "
          f"completions forced to {args.length} tokens, EMA update every {args.ema_every} steps, model {model}")
    arms = {"sft/trl": ("sft", "trl"), "sft/medbridge": ("sft", "medbridge"), "grpo/trl": ("grpo", "trl"),
            "grpo/medbridge-vanilla": ("grpo", "vanilla"), "grpo/medbridge-care": ("grpo", "care")}
    medians: dict[str, list[float]] = {name: [] for name in arms}
    peak_gib: dict[str, list[float]] = {name: [] for name in arms}  # CUDA only
    for r in range(args.repeats):
        for name, (kind, arm) in arms.items():  # interleaved: every repeat runs every arm once
            out = str(work / f"{name.replace('/', '_')}_{r}")
            if torch.cuda.is_available():
                torch.cuda.empty_cache()
                torch.cuda.reset_peak_memory_stats()
            steps = (_sft_arm(arm, model, root, out, args.steps, args.overrides) if kind == "sft"
                     else _grpo_arm(arm, model, root, out, args.steps, args.length, args.ema_every, args.overrides))
            if torch.cuda.is_available():
                peak_gib[name].append(torch.cuda.max_memory_allocated() / 2**30)
            medians[name].append(statistics.fmean(steps[args.warmup:]))  # mean: EMA update steps count at their real share
    cuda = torch.cuda.is_available()
    print("\n| arm | step seconds, mean per run: min / median / max |" + (" peak GiB (max) |\n|---|---|---|" if cuda else "\n|---|---|"))
    for name, values in medians.items():
        print(f"| {name} | {_spread(values)} |" + (f" {max(peak_gib[name]):.1f} |" if cuda else ""))
    print("\n| ratio | min / median / max | target |\n|---|---|---|")
    for label, num, den, target in (("SFT medbridge / TRL", "sft/medbridge", "sft/trl", "<= 1.05"),
                                    ("GRPO vanilla medbridge / TRL", "grpo/medbridge-vanilla", "grpo/trl", "~1.0"),
                                    ("GRPO-CARE / TRL GRPO", "grpo/medbridge-care", "grpo/trl", "<= 1.3")):
        ratios = [a / b for a, b in zip(medians[num], medians[den])]
        print(f"| {label} | {_spread(ratios)} | {target} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
