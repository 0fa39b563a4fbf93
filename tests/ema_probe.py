"""Launched by tests (``accelerate launch ... tests/ema_probe.py CONFIG OUT [--set k=v ...]``): real
GRPO-CARE steps with the EMA updated after every step, under whatever engine the launch sets up
(one process, DDP, DeepSpeed ZeRO-3). Around each update it gathers the full reference and
policy and records the largest deviation of the new reference from 0.995·old + 0.005·policy;
rank 0 writes the numbers to OUT as JSON."""

import json
import sys

import torch


def _skip_deepspeed_shm_comm() -> None:
    """DeepSpeed's CPU accelerator JIT-compiles a shared-memory all-reduce op (ninja, ~45 s on a
    fresh machine) when it sets up communication. It only speeds up CPU collectives, and GPU
    runs use NCCL, so the probe runs ZeRO-3's collectives over plain gloo instead."""
    try:
        import deepspeed.ops
    except ImportError:
        return
    deepspeed.ops.__compatible_ops__["deepspeed_shm_comm"] = False


def main() -> None:
    _skip_deepspeed_shm_comm()
    from medbridge.training import train as job
    from medbridge.training.data import grpo_dataset
    from medbridge.training.grpo_care import GRPOCareTrainer

    config_path, out_path, overrides = sys.argv[1], sys.argv[2], [a for a in sys.argv[3:] if a != "--set"]
    config, processor, docs, _, _ = job.prepare("grpo", config_path, overrides)
    processor.tokenizer.padding_side = "left"
    trainer = GRPOCareTrainer(model=config.model, args=config, train_dataset=grpo_dataset(docs), processing_class=processor)
    ema = trainer.ema
    update, checks = ema.update, []

    def policy_state(policy):
        out = {}
        for chunk in ema._chunks([(n, p) for n, p in policy.named_parameters()]):
            with ema._gathered([p for _, p in chunk], modify=False):
                out.update({n: p.detach().to("cpu", torch.float32, copy=True) for n, p in chunk})
        return out

    def checked_update(policy):
        before, theta = ema.full_state(), policy_state(policy)
        update(policy)
        after = ema.full_state()
        if before:
            worst = max((after[n].float() - (0.995 * before[n].float() + 0.005 * theta[n])).abs().max().item() for n in after)
            moved = max((after[n].float() - before[n].float()).abs().max().item() for n in after)
            checks.append({"max_error": worst, "max_move": moved, "params": len(after), "dtype": str(next(iter(after.values())).dtype)})

    ema.update = checked_update
    trainer.train()
    if trainer.accelerator.is_main_process:
        engine = "zero3" if ema.zero3 else ("ddp" if trainer.accelerator.num_processes > 1 else "single")
        with open(out_path, "w") as f:
            json.dump({"engine": engine, "processes": trainer.accelerator.num_processes, "steps": trainer.state.global_step, "checks": checks}, f)


if __name__ == "__main__":
    main()
