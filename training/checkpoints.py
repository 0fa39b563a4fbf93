"""Where a run's files go, and which checkpoint a ``--resume`` continues from.

A run folder (``output_dir``) holds ``checkpoints/checkpoint-N/`` (TRL/transformers resume
points: weights, optimizer, scheduler, RNG, trainer state, and for GRPO-CARE the EMA
reference) and, once training has finished, ``model/`` (the final weights, processor and
``run_card.json``). transformers writes a checkpoint file by file, so a kill can leave a
partial one: medbridge marks a checkpoint complete only after everything is on disk, and
``--resume`` takes the newest complete one.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

from medbridge.harness.atomic_write import write_text_atomic
from medbridge.harness.errors import ConfigError

COMPLETE_MARKER = "medbridge-checkpoint-complete"
RUN_STATE = "medbridge_run_state.json"  # wall time and monitor history so far, for --resume
_CHECKPOINT = re.compile(r"^checkpoint-(\d+)$")


def checkpoints_dir(run_dir: str | Path) -> Path:
    return Path(run_dir) / "checkpoints"


def final_model_dir(run_dir: str | Path) -> Path:
    return Path(run_dir) / "model"


def complete_checkpoints(run_dir: str | Path) -> list[Path]:
    folder = checkpoints_dir(run_dir)
    if not folder.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in folder.iterdir() if (m := _CHECKPOINT.match(p.name)) and (p / COMPLETE_MARKER).is_file()]
    return [p for _, p in sorted(found)]


def resume_checkpoint(run_dir: str | Path) -> Path:
    found = complete_checkpoints(run_dir)
    if not found:
        raise ConfigError("--resume: no complete checkpoint to resume from", where=str(checkpoints_dir(run_dir)),
                          fix="start the run without --resume (checkpoints are written every `save_steps` steps)")
    return found[-1]


def check_fresh_run(run_dir: str | Path) -> None:
    """A new run must not mix its checkpoints or final model with an earlier run's."""
    run_dir = Path(run_dir)
    if final_model_dir(run_dir).exists() or complete_checkpoints(run_dir):
        raise ConfigError("output_dir already holds a run", where=str(run_dir),
                          fix="pass --resume to continue it, or choose another output_dir")


def read_run_state(checkpoint: str | Path) -> dict:
    path = Path(checkpoint) / RUN_STATE
    return json.loads(path.read_text()) if path.is_file() else {"wall_seconds": 0.0, "monitor_history": []}


def load_checkpoint_weights(model, checkpoint: str | Path) -> None:
    """Load a checkpoint's safetensors into ``model`` through the model's own key mapping.

    transformers 5 saves weights in the hub layout (``visual.*``, ``model.layers.*`` for
    Qwen2.5-VL) but ``Trainer._load_from_checkpoint`` loads them unmapped with strict=False,
    so a resumed VLM silently keeps its initial weights. ``from_pretrained`` renames keys with
    the model's conversion mapping; this applies the same mapping to a resume and refuses a
    checkpoint that does not cover every weight. (transformers offers no public call for this.)
    """
    from safetensors.torch import load_file
    from transformers.conversion_mapping import get_model_conversion_mapping
    from transformers.core_model_loading import WeightConverter, WeightRenaming, rename_source_key

    folder = Path(checkpoint)
    index = folder / "model.safetensors.index.json"
    files = sorted(set(json.loads(index.read_text())["weight_map"].values())) if index.is_file() else ["model.safetensors"]
    transforms = get_model_conversion_mapping(model)
    renamings = [t for t in transforms if isinstance(t, WeightRenaming)]
    converters = [t for t in transforms if isinstance(t, WeightConverter)]
    if converters:  # fused/split tensors need from_pretrained's machinery; the renaming-only models are handled here
        raise ConfigError(f"--resume: {type(model).__name__} needs weight conversions medbridge cannot apply to a resume", where=str(folder),
                          fix="start a new run with model: <this checkpoint> instead of --resume")
    own = model.state_dict()
    state = {}
    for name in files:
        for key, tensor in load_file(str(folder / name), device="cpu").items():
            state[rename_source_key(key, renamings, [], model.base_model_prefix, own)[0]] = tensor
    result = model.load_state_dict(state, strict=False)
    tied = set(getattr(model, "_tied_weights_keys", None) or ())
    missing = [k for k in result.missing_keys if k not in tied]
    if missing or result.unexpected_keys:
        raise ConfigError(f"--resume: checkpoint weights do not match the model ({len(missing)} missing, e.g. {missing[:1]}; "
                          f"{len(result.unexpected_keys)} unexpected, e.g. {result.unexpected_keys[:1]})", where=str(folder),
                          fix="resume with the transformers version and model class that wrote the checkpoint")


class MarksCompleteCheckpoints:
    """Trainer mixin: after transformers (and subclasses) wrote ``checkpoint-N``, add medbridge's
    state (wall time, monitor history, subclass extras) and mark it complete."""

    medbridge_monitor = None  # the PassAtKMonitor, when the run has one
    medbridge_wall_before = 0.0  # wall seconds of earlier segments of a resumed run
    medbridge_started = None

    def medbridge_wall_seconds(self) -> float:
        started = self.medbridge_started if self.medbridge_started is not None else time.perf_counter()
        return self.medbridge_wall_before + time.perf_counter() - started

    def _save_checkpoint(self, model, trial):
        super()._save_checkpoint(model, trial)
        folder = Path(self._get_output_dir(trial=trial)) / f"checkpoint-{self.state.global_step}"
        self._save_extra_checkpoint_state(folder)
        self.accelerator.wait_for_everyone()
        if self.accelerator.is_main_process:
            history = self.medbridge_monitor.history if self.medbridge_monitor is not None else []
            write_text_atomic(folder / RUN_STATE, json.dumps({"wall_seconds": self.medbridge_wall_seconds(), "monitor_history": history}, indent=1) + "\n")
            write_text_atomic(folder / COMPLETE_MARKER, f"{self.state.global_step}\n")  # last: the checkpoint is whole

    def _load_from_checkpoint(self, resume_from_checkpoint, model=None):
        model = model if model is not None else self.model
        plain = not (self.is_deepspeed_enabled or self.is_fsdp_enabled or hasattr(model, "peft_config"))
        folder = Path(resume_from_checkpoint)
        if plain and ((folder / "model.safetensors").is_file() or (folder / "model.safetensors.index.json").is_file()):
            load_checkpoint_weights(model, folder)
        else:  # DeepSpeed, FSDP and PEFT adapters restore through their own formats
            super()._load_from_checkpoint(resume_from_checkpoint, model)

    def _run_epoch(self, *args, **kwargs):
        # transformers steps once before it checks max_steps, so resuming a run whose last
        # checkpoint is its final step would train one step too many
        if 0 < self.state.max_steps <= self.state.global_step:
            self.control.should_training_stop = True
            return None
        return super()._run_epoch(*args, **kwargs)

    def _save_extra_checkpoint_state(self, folder: Path) -> None:
        """Hook for state transformers does not save (every process calls it)."""
