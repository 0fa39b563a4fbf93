"""Training configs: TRL's ``SFTConfig`` / ``GRPOConfig`` plus what medbridge adds, from YAML.

A config file is flat like TRL's own (``learning_rate: 1e-6``), plus:

- ``model``: the checkpoint to start from (a folder or a hub id);
- ``data``: which MCQ docs to train on and which to monitor (:class:`DataConfig`);
- ``monitor_*``: the Pass@K monitor (:mod:`medbridge.training.callbacks`);
- ``care_*`` / ``use_care`` (GRPO only): GRPO-CARE's consistency bonus and EMA reference;
- ``include: other.yaml``: start from another file (relative to this one), then override.

Unknown keys are refused with the file, the key and the closest valid key; ``--set key=value``
(``data.limit=64`` for the data section) overrides a file. Values are parsed as YAML scalars.
"""

from __future__ import annotations

import dataclasses
import difflib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from medbridge.harness import yaml12
from medbridge.harness.errors import ConfigError
from trl import GRPOConfig, SFTConfig

_LOADER_KEYS = {"include"}


def _yaml(text: str):
    # YAML 1.2 scalars: `save_strategy: no` stays a string, `1e-6` is a number (harness.yaml12)
    return yaml12.load(text)


@dataclass
class DataConfig:
    """Which questions a run trains on and which held-out ones it monitors.

    ``source`` is a harness source (``medmnist``, ``vqa``) or ``jsonl`` (a file of MCQ docs, one
    JSON object per line; see :mod:`medbridge.training.data`). ``datasets`` are names within the
    source (``pneumonia``, ``slake``) or, for ``jsonl``, file paths. ``balanced`` draws the same
    number of questions per gold answer (MedMNIST class, Yes/No), ``limit`` caps the draw."""

    source: str = "medmnist"
    datasets: list[str] = field(default_factory=list)
    split: str = "train"
    size: int | None = None  # MedMNIST image size (28, 64, 128, 224); None: MEDMNIST_SIZE, else 224
    root: str | None = None  # MedMNIST folder; None: MEDMNIST_ROOT, else ~/.medmnist
    balanced: bool = True
    limit: int | None = None
    seed: int = 0
    # What goes in <think> for SFT targets when the data has no reasoning trace (see sft.py).
    think: str = ""
    monitor_split: str | None = "val"  # held-out questions for the Pass@K monitor (None: no monitor set)
    monitor_limit: int | None = 64
    monitor_datasets: list[str] | None = None  # default: the training datasets

    def __post_init__(self):
        if isinstance(self.datasets, str):
            self.datasets = [d.strip() for d in self.datasets.split(",") if d.strip()]
        if isinstance(self.monitor_datasets, str):
            self.monitor_datasets = [d.strip() for d in self.monitor_datasets.split(",") if d.strip()]
        if not self.datasets:
            raise ConfigError("data.datasets is empty", fix="name the datasets to train on, e.g. `datasets: [pneumonia]`")
        for key in ("limit", "monitor_limit"):
            value = getattr(self, key)
            if value is not None and (not isinstance(value, int) or value < 1):
                raise ConfigError(f"data.{key} must be a positive integer or null, got {value!r}")


@dataclass
class MonitorFields:
    """The Pass@K monitor's settings and the processor's (shared by SFT and GRPO configs)."""

    # passed to AutoProcessor.from_pretrained, e.g. {max_pixels: 802816} for Qwen image budgets
    processor_kwargs: dict = field(default_factory=dict)

    monitor_every: int = 0  # optimizer steps between evaluations of the monitor set; 0: off
    monitor_k: int = 16  # samples per question; pass@k reported for every power of two <= k, and k
    monitor_temperature: float = 0.7  # the paper's Pass@K sampling settings
    monitor_top_p: float = 0.9
    monitor_max_new_tokens: int = 64
    monitor_margin: float = 0.05  # warn when Pass@K falls this far below its first value
    monitor_stop: bool = False  # ... and stop training (the last checkpoint is kept)


@dataclass
class MedbridgeSFTConfig(MonitorFields, SFTConfig):
    model: str | None = None
    data: dict = field(default_factory=dict)

    def __post_init__(self):
        super().__post_init__()
        self.data_config = DataConfig(**self.data) if isinstance(self.data, dict) else self.data


@dataclass
class GRPOCareConfig(MonitorFields, GRPOConfig):
    """GRPO-CARE (consistency-aware GRPO) on TRL's GRPOConfig; ``use_care: false`` is vanilla GRPO
    with the same trainer. Defaults follow GRPO-CARE's released SEED-Bench-R1 scripts (github.com/TencentARC/GRPO-CARE, scripts/run_grpo_care_margin*_seed_bench_r1.sh)."""

    model: str | None = None
    data: dict = field(default_factory=dict)
    use_care: bool = True
    care_bonus_coefficient: float = 0.5  # λ (`bonus_coefficient` in GRPO-CARE's scripts)
    care_margin: float = 0.01  # m (`consistency_margin`; 0 fits in-domain best, 0.01 transfers better)
    care_confidence_clip: float = 0.95  # τ (`confidence_upper_bound`)
    care_ema_decay: float = 0.995  # θ_ref ← decay·θ_ref + (1 − decay)·θ ...
    care_ema_every: int = 10  # ... every this many optimizer steps
    # bfloat16 cannot hold a 0.005·(θ − θ_ref) step next to θ_ref (8 mantissa bits), so a bf16
    # EMA of a slowly moving policy never moves: keep it in float32 unless memory forbids.
    care_ema_dtype: str = "float32"
    # GRPO-CARE's loss and sampling (TRL's defaults differ: dapo loss, top_p 1.0)
    loss_type: str = "grpo"
    beta: float = 0.0
    top_p: float = 0.95

    def __post_init__(self):
        super().__post_init__()
        self.data_config = DataConfig(**self.data) if isinstance(self.data, dict) else self.data
        if not 0.0 < self.care_ema_decay < 1.0:
            raise ConfigError(f"care_ema_decay must be in (0, 1), got {self.care_ema_decay}")
        if self.care_ema_every < 1:
            raise ConfigError(f"care_ema_every must be >= 1, got {self.care_ema_every}")
        if self.care_ema_dtype not in ("float32", "bfloat16", "float16"):
            raise ConfigError(f"care_ema_dtype must be float32, bfloat16 or float16, got {self.care_ema_dtype!r}")


CONFIG_CLASSES = {"sft": MedbridgeSFTConfig, "grpo": GRPOCareConfig}
_DATA_KEYS = {f.name for f in dataclasses.fields(DataConfig)}


def _valid_keys(cls) -> set[str]:
    return {f.name for f in dataclasses.fields(cls) if f.init}


def _read_yaml(path: Path, seen: tuple[Path, ...] = ()) -> dict:
    path = path.expanduser().resolve()
    if path in seen:
        raise ConfigError("config includes itself", where=" -> ".join(str(p) for p in (*seen, path)))
    if not path.is_file():
        where = f"included from {seen[-1]}" if seen else None
        raise ConfigError(f"training config not found: {path}", where=where, fix="pass a YAML file, e.g. training/configs/tiny_sft.yaml")
    try:
        raw = _yaml(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"cannot parse YAML ({exc.__class__.__name__}: {str(exc).splitlines()[0]})", where=str(path)) from exc
    if not isinstance(raw, dict):
        raise ConfigError("a training config must be a mapping of keys to values", where=str(path))
    base = {}
    if "include" in raw:
        base = _read_yaml(path.parent / str(raw.pop("include")), (*seen, path))
    merged = {**base, **raw}
    if isinstance(base.get("data"), dict) and isinstance(raw.get("data"), dict):
        merged["data"] = {**base["data"], **raw["data"]}
    merged.setdefault("__files__", [])
    merged["__files__"] = [*base.get("__files__", []), str(path)]
    return merged


def _check_keys(values: dict, cls, where: str) -> None:
    allowed = _valid_keys(cls) - {"data_config"}
    for key in values:
        if key not in allowed:
            raise ConfigError(f"unknown key {key!r}{_hint(key, allowed)}", where=where, fix=f"valid keys are those of {cls.__name__} (TRL's {cls.__mro__[2].__name__} plus model, data, monitor_*{', care_*' if cls is GRPOCareConfig else ''})")
    data = values.get("data", {})
    if not isinstance(data, dict):
        raise ConfigError("`data` must be a mapping", where=where, fix="e.g. data: {source: medmnist, datasets: [pneumonia]}")
    for key in data:
        if key not in _DATA_KEYS:
            raise ConfigError(f"unknown key 'data.{key}'{_hint(key, _DATA_KEYS, prefix='data.')}", where=where)


def _hint(key: str, allowed: set[str], prefix: str = "") -> str:
    close = difflib.get_close_matches(key, sorted(allowed), n=1)
    return f" (did you mean {prefix}{close[0]!r}?)" if close else ""


def parse_override(item: str) -> tuple[list[str], Any]:
    key, sep, value = item.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"--set {item!r} is not KEY=VALUE", fix="e.g. --set learning_rate=1e-5 or --set data.limit=64")
    try:
        parsed = _yaml(value) if value.strip() else None
    except yaml.YAMLError:
        parsed = value
    return key.strip().split("."), parsed


def declared_values(path: str | Path, kind: str, overrides: list[str] | None = None) -> tuple[dict, list[str]]:
    """What a config file (with its includes) and ``--set`` overrides declare, checked for
    unknown keys, before defaults are filled in; and the files read. (Studies key their stages
    on this: the user's settings, not TRL's defaults of the day.)"""
    if kind not in CONFIG_CLASSES:
        raise ConfigError(f"unknown training kind {kind!r}", fix="use sft or grpo")
    cls = CONFIG_CLASSES[kind]
    values = _read_yaml(Path(path))
    files = values.pop("__files__")
    where = str(files[-1])
    _check_keys(values, cls, where)
    for item in overrides or []:
        keys, value = parse_override(item)
        if len(keys) == 1:
            values[keys[0]] = value
        elif len(keys) == 2 and keys[0] == "data":
            values.setdefault("data", {})[keys[1]] = value
        else:
            raise ConfigError(f"--set {item!r}: only KEY or data.KEY can be set")
        _check_keys(values, cls, f"--set {item}")
    return values, files


def load_config(path: str | Path, kind: str, overrides: list[str] | None = None):
    """The config object of ``kind`` (``sft`` | ``grpo``) from a YAML file and ``--set`` overrides."""
    values, files = declared_values(path, kind, overrides)
    cls = CONFIG_CLASSES[kind]
    where = str(files[-1])
    if not values.get("model"):
        raise ConfigError("no `model` to start from", where=where, fix="add `model: <checkpoint folder or hub id>` or pass --set model=...")
    if not values.get("output_dir"):
        raise ConfigError("no `output_dir`", where=where, fix="add `output_dir: runs/NAME` or pass --set output_dir=...")
    if cls is GRPOCareConfig:
        _check_group_size(values, where)
    if "use_cpu" not in values:  # accelerate forms a CPU process group (gloo) only when told it is on the CPU
        import torch

        values["use_cpu"] = not torch.cuda.is_available()
    try:
        config = cls(**values)
    except ConfigError as exc:
        raise ConfigError(str(exc), where=where) from exc
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"invalid training config: {str(exc).splitlines()[0]}", where=where) from exc
    config.config_files = files
    return config


def _check_group_size(values: dict, where: str) -> None:
    """Each generation batch must hold whole groups of G completions (TRL's check, said plainly)."""
    import os

    world = int(os.environ.get("WORLD_SIZE", "1"))
    per_device = int(values.get("per_device_train_batch_size", 8))
    steps = int(values.get("steps_per_generation") or values.get("gradient_accumulation_steps") or 1)
    total = int(values.get("generation_batch_size") or per_device * world * steps)
    groups = int(values.get("num_generations", 8))
    if total % groups:
        raise ConfigError(
            f"the generation batch ({total} completions = {per_device} per device x {world} process(es) x {steps} step(s)) "
            f"is not a multiple of num_generations={groups}", where=where,
            fix="per_device_train_batch_size counts completions, not prompts: make the batch a multiple of num_generations",
        )


def resolved_dict(config) -> dict:
    """Every setting of a config as plain JSON-able values (for the run card)."""
    out = {}
    for f in dataclasses.fields(config):
        if not f.init:
            continue
        value = getattr(config, f.name)
        if isinstance(value, (str, int, float, bool)) or value is None:
            out[f.name] = value
        elif isinstance(value, (list, tuple, dict)):
            out[f.name] = yaml.safe_load(yaml.safe_dump(value, default_flow_style=True)) if _plain(value) else str(value)
        else:
            out[f.name] = str(value)
    out["data"] = dataclasses.asdict(config.data_config)
    return out


def _plain(value) -> bool:
    try:
        yaml.safe_dump(value)
        return True
    except yaml.YAMLError:
        return False
