"""``medbridge probe`` as a library call: MedMNIST splits -> frozen-tower features (cached) ->
probe heads selected on val -> test ACC/AUC -> one record per (dataset, head).

Labels: every dataset is probed as a single-label problem over its classes; ChestMNIST, which
is multi-label, keeps the rows with exactly one positive finding as a 14-class problem (the same
rule as its MCQ; the paper's low Chest probe scores fit it), RetinaMNIST's ordinal grades are 5
classes. Features are extracted for every row of a split (so the cache does not depend on this
rule); rows without a single class are dropped before fitting.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..errors import ConfigError
from ..fingerprint import check_checkpoint, checkpoint_fingerprint
from ..host import default_device
from ..sources import catalogue, medmnist
from .features import FeatureCache, FeatureKey, LazyTower, VisionTower, default_cache_dir, distributed_state, resolve_dtype, split_features
from .heads import HEADS, fit_probe
from .metrics import score_block
from .records import EVALUATION, build_probe_record, per_doc, probe_summary_line, scores_to_metrics, write_probe_record


def parse_datasets(spec: str) -> list[catalogue.MedMNISTSet]:
    """``medmnist`` (all 12), ``medmnist_radiology`` (a modality), or names such as
    ``breast``, ``medmnist_breast``, ``breastmnist``, comma-separated; order kept, no repeats."""
    chosen: list[catalogue.MedMNISTSet] = []
    for token in (t.strip().lower() for t in spec.split(",")):
        if not token:
            continue
        if token in ("medmnist", "all"):
            found = list(catalogue.MEDMNIST.values())
        elif token.removeprefix("medmnist_") in catalogue.MODALITIES:
            found = [d for d in catalogue.MEDMNIST.values() if d.modality == token.removeprefix("medmnist_")]
        else:
            found = [catalogue.lookup(token.removeprefix("probe_").removeprefix("medmnist_"))]
        chosen += [d for d in found if d not in chosen]
    if not chosen:
        raise ConfigError(f"no dataset named in {spec!r}", fix="pass e.g. --tasks medmnist, --tasks breast,pneumonia or --tasks medmnist_radiology")
    return chosen


def _labels(path: Path, split: str) -> np.ndarray:
    """Only the labels of a split (cheap: images stay on disk until a cache miss needs them)."""
    with np.load(path) as npz:
        labels = np.asarray(npz[f"{split}_labels"])
    return (labels[:, None] if labels.ndim == 1 else labels).astype(np.int64)


def _split(ds, split, key_base, tower, cache, root, size, batch_size, progress, state):
    path = medmnist.check_available(ds.name, split, root=root, size=size)
    classes = medmnist.class_of_each_row(ds.flag, _labels(path, split))
    key = FeatureKey(dataset=ds.flag, split=split, size=size, n_rows=len(classes), **key_base)

    def load_images():  # a cache miss only
        return medmnist.load_split(ds.flag, split, root=root, size=size)[0]

    features, hit = split_features(key, load_images, tower, cache, batch_size=batch_size, progress=progress, state=state)
    return features, classes, hit


def probe(model: str, tasks: str, output: str | os.PathLike, *, size=None, heads=("paper",), pooling: str = "mean", device: str | None = None,
          dtype: str = "auto", batch_size: int = 64, data_root=None, cache_dir=None, use_cache: bool = True, seed: int = 0,
          epochs: int | None = None, progress: bool = True, packed: bool = True, tower_loader=VisionTower.load, echo=print) -> list[dict]:
    """Probe ``model``'s frozen vision tower on MedMNIST datasets; returns the records written.
    ``packed=False``: transformers' own tower forward instead of ``packed_tower`` (same features)."""
    datasets = parse_datasets(tasks)
    size = medmnist.resolve_size(size)
    for head in heads:
        if head not in HEADS:
            raise ConfigError(f"unknown probe head {head!r}", fix=f"use one of {', '.join(HEADS)}, or both")
    # Everything a user can get wrong is checked before a model is loaded or a feature extracted.
    for ds in datasets:
        medmnist.check_available(ds.name, "train", root=data_root, size=size)
    ref = check_checkpoint(model)
    fingerprint = checkpoint_fingerprint(ref)
    device = device or default_device()
    state = distributed_state(cpu=device == "cpu")
    if state is not None:
        device = str(state.device)
    dtype_name = str(resolve_dtype(dtype, device)).removeprefix("torch.")
    cache = FeatureCache(cache_dir or default_cache_dir()) if use_cache else None
    tower = LazyTower(ref, device, dtype, loader=tower_loader, packed=packed)
    key_base = {"fingerprint": fingerprint, "pooling": pooling, "dtype": dtype_name}
    records = []
    for ds in datasets:
        splits = {s: _split(ds, s, key_base, tower, cache, data_root, size, batch_size, progress, state) for s in medmnist.SPLITS}
        if state is not None and not state.is_main_process:
            continue  # every process extracted a shard; one fits and writes
        records += _fit_and_record(ds, splits, heads, model, fingerprint, tower, size, pooling, dtype_name, data_root, device, seed, epochs, output, echo)
    return records


def _fit_and_record(ds, splits, heads, model, fingerprint, tower, size, pooling, dtype_name, data_root, device, seed, epochs, output, echo):
    n_classes = len(medmnist.class_names(ds.flag))
    (train_x, train_c, _), (val_x, val_c, _), (test_x, test_c, _) = (splits[s] for s in medmnist.SPLITS)
    tr, va, te = train_c >= 0, val_c >= 0, test_c >= 0
    balanced = medmnist.balanced_indices(test_c, n_classes, per_class=None, seed=medmnist.SUBSET_SEED)
    records = []
    for head in heads:
        fitted = fit_probe(head, train_x[tr], train_c[tr], val_x[va], val_c[va], n_classes, seed=seed, device=device, epochs=epochs)
        test_scores = fitted.predict_proba(test_x)
        metrics = scores_to_metrics(
            score_block(test_c[balanced], test_scores[balanced]),
            score_block(test_c[te], test_scores[te]),
            score_block(val_c[va], fitted.predict_proba(val_x[va])),
        )
        details = {
            "head": head,
            "pooling": pooling,
            "size": size,
            "dtype": dtype_name,
            "encoder": tower.kind,  # None: every feature came from the cache
            "feature_dim": int(train_x.shape[1]),
            "n_classes": n_classes,
            "label_rule": "rows with exactly one positive finding, as 14 classes" if ds.flag == "chestmnist" else "the dataset's class index",
            "settings": fitted.settings,
            "selection": fitted.selection,
            "history": fitted.history,
            "fit_seconds": round(fitted.fit_seconds, 3),
            "features_from_cache": {s: bool(splits[s][2]) for s in medmnist.SPLITS},
        }
        config = {k: details[k] for k in ("head", "pooling", "size", "dtype", "settings")}
        data = {"source": "medmnist", "dataset": ds.flag, "size": size, "medmnist_root": str(medmnist.resolve_root(data_root)),
                "n_train": int(tr.sum()), "n_val": int(va.sum()), "n_test": int(te.sum()), "subset_seed": medmnist.SUBSET_SEED}
        evaluation = dict(EVALUATION)
        if ds.flag == "chestmnist":
            evaluation = {k: v.replace("of the test split", "of the test split's single-finding rows") for k, v in evaluation.items()}
        record = build_probe_record(task=f"probe_medmnist_{ds.name}", evaluation=evaluation, model={"id": model, "fingerprint": fingerprint, "backend": "vision-tower"},
                              config=config, data=data, n_docs=len(balanced), n_docs_full=int(te.sum()), metrics=metrics,
                              how=f"medbridge probe ({head} head on frozen {pooling}-pooled vision-tower features)", block="probe", details=details,
                              per_doc=per_doc(balanced, test_c, test_scores))
        # One folder per head when there are two: a leaderboard row holds one record per task.
        write_probe_record(record, Path(output) / head if len(heads) > 1 else output, f"{head}_{pooling}_{size}px")
        echo(probe_summary_line(record))
        records.append(record)
    return records
