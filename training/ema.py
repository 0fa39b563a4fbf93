"""GRPO-CARE's slowly moving reference: an exponential moving average (EMA) of the policy.

θ_ref ← decay·θ_ref + (1 − decay)·θ every ``every`` optimizer steps (decay 0.995, every 10 in
GRPO-CARE). Written here because neither engine gives it: TRL's ``sync_ref_model`` refuses
β = 0 and rebuilds the reference from the initial weights on resume, and GRPO-CARE's own update
edits DeepSpeed ZeRO-3 parameters inside ``GatheredParameters`` without ``modifier_rank``, so
the edit is discarded when the context closes (reproduced with deepspeed 0.19.8 on 2 CPU
processes; tests/test_training_distributed.py checks the fix).

- The reference is loaded from the starting checkpoint (θ_ref = θ₀), in ``care_ema_dtype``
  (float32 by default: a bf16 θ_ref cannot hold 0.005-sized steps), with dropout off.
- Under ZeRO-3 it is sharded like the policy (its own inference engine); each update gathers a
  bounded chunk of parameters of both models, rank 0 edits, and ``modifier_rank=0`` makes
  DeepSpeed re-partition the edit. Elsewhere every process updates its own full copy (DDP keeps
  the policies identical, so the copies stay identical).
- ``save`` / ``load`` write the full reference into a checkpoint folder (safetensors shards,
  independent of the number of processes), so ``--resume`` continues the same average.
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path

import torch

EMA_DIR = "ema_reference"
_CHUNK_NUMEL = 2**26  # parameters gathered at once under ZeRO-3 (256 MB in float32)


def _zero3(accelerator) -> bool:
    plugin = getattr(accelerator.state, "deepspeed_plugin", None)
    return plugin is not None and plugin.zero_stage == 3


class EMAReference:
    def __init__(self, model_path: str, accelerator, *, decay: float, every: int, dtype: str, trust_remote_code: bool = False):
        from trl.models.utils import prepare_deepspeed
        from trl.trainer.utils import add_fused_lm_head, create_model_from_path

        self.decay, self.every, self.accelerator = float(decay), int(every), accelerator
        self.zero3 = _zero3(accelerator)
        if getattr(accelerator.state, "fsdp_plugin", None) is not None:
            from medbridge.harness.errors import ConfigError

            raise ConfigError("GRPO-CARE's EMA reference is not supported under FSDP",
                              fix="use DeepSpeed ZeRO-3 (training/accelerate/zero3.yaml) or plain DDP, or set use_care: false")
        model = create_model_from_path(model_path, dtype=dtype, device_map=None, trust_remote_code=trust_remote_code)
        model.requires_grad_(False)
        model.eval()
        # Consistency is the reference's likelihood at temperature 1, whatever the sampling temperature.
        add_fused_lm_head(model, temperature=1.0)
        self.module = model
        self.names = [name for name, _ in model.named_parameters()]
        self.model = prepare_deepspeed(model, accelerator) if self.zero3 else model.to(accelerator.device)
        self.updates = 0

    # ---- parameter access -----------------------------------------------------------------
    def _gathered(self, params, modify: bool):
        if not self.zero3:
            return contextlib.nullcontext()
        import deepspeed

        return deepspeed.zero.GatheredParameters(params, modifier_rank=0 if modify else None)

    @property
    def _edits_here(self) -> bool:
        return not self.zero3 or self.accelerator.process_index == 0

    def _chunks(self, params: list):
        chunk, size = [], 0
        for item in params:
            numel = getattr(item[-1], "ds_numel", None) or item[-1].numel()
            if chunk and size + numel > _CHUNK_NUMEL:
                yield chunk
                chunk, size = [], 0
            chunk.append(item)
            size += numel
        if chunk:
            yield chunk

    def _pairs(self, policy):
        ours = dict(self.module.named_parameters())
        theirs = dict(policy.named_parameters())
        missing = sorted(set(ours) ^ set(theirs))
        if missing:
            raise RuntimeError(f"EMA reference and policy have different parameters: {missing[:5]}")
        return [(name, ours[name], theirs[name]) for name in self.names]

    # ---- the update -------------------------------------------------------------------------
    @torch.no_grad()
    def update(self, policy) -> None:
        """θ_ref ← decay·θ_ref + (1 − decay)·θ, for the unwrapped policy ``policy``."""
        weight = 1.0 - self.decay
        for chunk in self._chunks(self._pairs(policy)):
            with self._gathered([p for _, _, p in chunk], modify=False), self._gathered([e for _, e, _ in chunk], modify=True):
                if self._edits_here:
                    for _, ema, param in chunk:
                        ema.data.lerp_(param.data.to(device=ema.device, dtype=ema.dtype), weight)
        self.updates += 1

    def maybe_update(self, policy, global_step: int) -> bool:
        if global_step > 0 and global_step % self.every == 0:
            self.update(policy)
            return True
        return False

    # ---- checkpoints --------------------------------------------------------------------------
    @torch.no_grad()
    def full_state(self) -> dict[str, torch.Tensor]:
        """The whole reference on CPU (every process joins the gathers; non-writers get {})."""
        out = {}
        params = [(n, p) for n, p in zip(self.names, self.module.parameters())]
        for chunk in self._chunks(params):
            with self._gathered([p for _, p in chunk], modify=False):
                if self._edits_here:
                    out.update({n: p.detach().to("cpu", copy=True) for n, p in chunk})
        return out

    def save(self, checkpoint_dir: str | os.PathLike) -> None:
        from safetensors.torch import save_file

        state = self.full_state()
        if not self.accelerator.is_main_process:
            return
        folder = Path(checkpoint_dir) / EMA_DIR
        folder.mkdir(parents=True, exist_ok=True)
        shards, index = [], {}
        for i, chunk in enumerate(self._chunks(list(state.items()))):
            name = f"ema-{i:05d}.safetensors"
            save_file({n: t.contiguous() for n, t in chunk}, str(folder / name))
            index.update({n: name for n, _ in chunk})
            shards.append(name)
        meta = {"decay": self.decay, "every": self.every, "updates": self.updates, "dtype": str(next(iter(state.values())).dtype), "weight_map": index}
        from medbridge.harness.atomic_write import write_text_atomic

        write_text_atomic(folder / "index.json", json.dumps(meta, indent=1, sort_keys=True) + "\n")

    @torch.no_grad()
    def load(self, checkpoint_dir: str | os.PathLike) -> None:
        from medbridge.harness.errors import CheckpointError
        from safetensors.torch import load_file

        folder = Path(checkpoint_dir) / EMA_DIR
        if not (folder / "index.json").is_file():
            raise CheckpointError("checkpoint has no EMA reference to resume GRPO-CARE from", where=str(checkpoint_dir),
                                  fix="resume from a checkpoint a GRPO-CARE run wrote, or start a fresh run")
        meta = json.loads((folder / "index.json").read_text())
        loaded: dict[str, torch.Tensor] = {}
        for shard in sorted(set(meta["weight_map"].values())):
            loaded.update(load_file(str(folder / shard)))
        params = [(n, p) for n, p in zip(self.names, self.module.parameters())]
        missing = [n for n, _ in params if n not in loaded]
        if missing:
            raise CheckpointError(f"EMA reference in the checkpoint lacks {len(missing)} parameters (e.g. {missing[0]})", where=str(folder))
        for chunk in self._chunks(params):
            with self._gathered([p for _, p in chunk], modify=True):
                if self._edits_here:
                    for n, p in chunk:
                        p.data.copy_(loaded[n].to(device=p.device, dtype=p.dtype))
        self.updates = int(meta.get("updates", 0))
