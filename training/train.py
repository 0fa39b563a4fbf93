"""One training job from a config: checks first, then data, trainer, final model and run card.

Everything a user can get wrong is checked before a model is built (config keys, checkpoint,
chat template, data, batch sizes, resume state); the final model is written to a temporary
folder and renamed into place only when it is complete, so a crash never leaves something
that looks like a finished checkpoint.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

from medbridge.harness.errors import CheckpointError
from medbridge.harness.fingerprint import check_checkpoint

from .checkpoints import check_fresh_run, checkpoints_dir, final_model_dir, read_run_state, resume_checkpoint
from .config import load_config, resolved_dict
from .data import data_fingerprint, monitor_docs, training_docs
from .run_card import build_run_card, parent_lineage, write_run_card


def _processor(model: str, trust_remote_code: bool, kwargs: dict | None = None):
    from transformers import AutoProcessor

    try:
        processor = AutoProcessor.from_pretrained(model, trust_remote_code=trust_remote_code, **(kwargs or {}))
    except (OSError, ValueError) as exc:
        raise CheckpointError(f"cannot load a processor ({type(exc).__name__})", where=model, fix="the checkpoint needs its processor / tokenizer files") from exc
    template = getattr(processor, "chat_template", None) or getattr(getattr(processor, "tokenizer", None), "chat_template", None)
    if not template:
        raise CheckpointError("the checkpoint has no chat template", where=model,
                              fix="training renders the evaluation's chat turn; add chat_template.jinja (e.g. from the base model) to the checkpoint")
    if not hasattr(processor, "image_processor"):
        raise CheckpointError("the checkpoint has no image processor (not a vision-language model)", where=model,
                              fix="train a VLM checkpoint (e.g. Qwen/Qwen2.5-VL-7B-Instruct)")
    return processor


def _trained_on(data) -> list[str]:
    if data.source == "medmnist":
        from medbridge.harness.sources.catalogue import lookup

        return sorted({lookup(d).name for d in data.datasets})
    return sorted(Path(d).stem if data.source == "jsonl" else d for d in data.datasets)


def prepare(kind: str, config_path: str, overrides: list[str] | None = None, resume: bool = False):
    """Load and check everything; return (config, processor, docs, monitor docs, resume checkpoint)."""
    config = load_config(config_path, kind, overrides)
    config.model = check_checkpoint(config.model)
    run_dir = Path(config.output_dir)
    resume_from = str(resume_checkpoint(run_dir)) if resume else None
    if not resume:
        check_fresh_run(run_dir)
    processor = _processor(config.model, config.trust_remote_code, config.processor_kwargs)
    docs = training_docs(config.data_config)
    monitor = monitor_docs(config.data_config) if config.monitor_every else []
    return config, processor, docs, monitor, resume_from


def build_trainer(kind: str, config, processor, docs, callbacks):
    if kind == "sft":
        from .sft import build_sft_trainer

        return build_sft_trainer(config, processor, docs, callbacks=callbacks)
    from .data import grpo_dataset
    from .grpo_care import GRPOCareTrainer

    processor.tokenizer.padding_side = "left"
    return GRPOCareTrainer(model=config.model, args=config, train_dataset=grpo_dataset(docs), processing_class=processor, callbacks=callbacks)


def run(kind: str, config_path: str, overrides: list[str] | None = None, resume: bool = False) -> dict:
    """Train; return the run card (also written to ``<output_dir>/model/run_card.json``)."""
    from .callbacks import PassAtKMonitor

    config, processor, docs, monitor, resume_from = prepare(kind, config_path, overrides, resume)
    run_dir = Path(config.output_dir)
    user_config = resolved_dict(config)
    config.output_dir = str(checkpoints_dir(run_dir))
    # TensorBoard (report_to: [tensorboard]) writes beside the checkpoints, not inside them
    os.environ.setdefault("TENSORBOARD_LOGGING_DIR", str(run_dir / "logs"))
    previous = read_run_state(resume_from) if resume_from else {"wall_seconds": 0.0, "monitor_history": []}
    monitor_cb = PassAtKMonitor(monitor, config, processor) if monitor else None
    trainer = build_trainer(kind, config, processor, docs, callbacks=[monitor_cb] if monitor_cb else None)
    trainer.medbridge_started, trainer.medbridge_wall_before = time.perf_counter(), float(previous["wall_seconds"])
    if monitor_cb is not None:
        monitor_cb.attach(trainer)
        monitor_cb.restore(previous["monitor_history"])
        trainer.medbridge_monitor = monitor_cb
    trainer.train(resume_from_checkpoint=resume_from)
    wall = trainer.medbridge_wall_seconds()

    card = build_run_card(
        name=run_dir.resolve().name, kind=kind, use_care=getattr(config, "use_care", False), config=user_config,
        parent=parent_lineage(config.model), data=data_fingerprint(docs), monitor_data=data_fingerprint(monitor) if monitor else None,
        trained_on=_trained_on(config.data_config), steps=trainer.state.global_step, wall_seconds=wall,
        history=monitor_cb.history if monitor_cb else [], seed=config.seed, resumed_from=[resume_from] if resume_from else [],
    )
    _save_final(trainer, processor, run_dir, card)
    return card


def _save_final(trainer, processor, run_dir: Path, card: dict) -> None:
    """Weights + processor + run card into ``model/``, via a temporary folder renamed at the end."""
    final = final_model_dir(run_dir)
    partial = run_dir / ".model.partial"
    if trainer.accelerator.is_main_process and partial.exists():
        shutil.rmtree(partial)
    trainer.accelerator.wait_for_everyone()
    trainer.save_model(str(partial))  # every process joins (ZeRO-3 gathers the weights)
    if trainer.accelerator.is_main_process:
        processor.save_pretrained(str(partial))
        write_run_card(partial, card)
        if final.exists():
            shutil.rmtree(final)
        os.replace(partial, final)
    trainer.accelerator.wait_for_everyone()
