"""Vision-only baseline: a ResNet trained from scratch with the MedMNIST v2 recipe
(``MedMNIST/experiments``, ``MedMNIST2D/train_and_eval_pytorch.py`` and ``models.py``).

Recipe: torchvision ResNet-18/50, no pretraining; at 28 px the stem is a 3x3 stride-1
convolution with no max-pool (the MedMNIST v2 adaptation), at 64-224 px the standard 7x7/2 stem
and max-pool; input channels as stored (1 for grey sets, 3 for RGB); ToTensor + Normalize(0.5,
0.5), no augmentation; Adam lr 1e-3, batch 128, 100 epochs, lr x0.1 at 50 % and 75 % of the
epochs (whole epochs, so a shortened run still decays; the official script's fractional
milestones never fire then); cross-entropy, or BCE-with-logits for multi-label ChestMNIST.
Selection: after every epoch the val AUC is measured and a COPY of the best weights kept (strict
improvement; the official script before May 2023 kept a reference, i.e. the last epoch). Test
metrics are on the full test split (the published protocol), with the last epoch's and the
paper-protocol balanced subset's alongside.
"""

from __future__ import annotations

import copy
import hashlib
import time

import numpy as np

from ..errors import ConfigError
from ..sources import catalogue, medmnist
from .metrics import score_block

ARCHS = ("resnet18", "resnet50")
RECIPE = {"optimizer": "Adam", "lr": 1e-3, "batch_size": 128, "epochs": 100, "milestones": "50% and 75% of epochs, whole epochs", "gamma": 0.1,
          "normalize": [0.5, 0.5], "augmentation": None, "selection": "best val AUC (copy of weights)"}
# MedMNIST v2 benchmark table (medmnist.github.io, "Benchmarking Performance on MedMNIST2D").
PUBLISHED = {
    ("resnet18", 28, "breastmnist"): {"auc": 0.901, "acc": 0.863},
    ("resnet18", 28, "pneumoniamnist"): {"auc": 0.944, "acc": 0.854},
    ("resnet18", 224, "breastmnist"): {"auc": 0.891, "acc": 0.833},
    ("resnet18", 224, "pneumoniamnist"): {"auc": 0.956, "acc": 0.864},
}
PUBLISHED_SOURCE = "MedMNIST v2 benchmark table, medmnist.github.io (Benchmarking Performance on MedMNIST2D)"


def build_resnet(arch: str, in_channels: int, n_outputs: int, size: int):
    import torchvision
    from torch import nn

    if arch not in ARCHS:
        raise ConfigError(f"unknown --arch {arch!r}", fix=f"use one of {', '.join(ARCHS)}")
    model = getattr(torchvision.models, arch)(weights=None, num_classes=n_outputs)
    if size == 28:
        model.conv1 = nn.Conv2d(in_channels, 64, kernel_size=3, stride=1, padding=1, bias=False)
        model.maxpool = nn.Identity()
    else:
        model.conv1 = nn.Conv2d(in_channels, 64, kernel_size=7, stride=2, padding=3, bias=False)
    return model


def milestones(epochs: int) -> list[int]:
    return sorted({max(1, int(f * epochs)) for f in (0.5, 0.75)})


def _nchw(images: np.ndarray):
    import torch

    x = torch.from_numpy(np.ascontiguousarray(images))
    return (x.unsqueeze(1) if x.ndim == 3 else x.permute(0, 3, 1, 2)).contiguous()


def _scores(model, images, device, multi_label: bool, batch_size: int = 1024) -> np.ndarray:
    import torch

    model.eval()
    out = []
    with torch.inference_mode():
        for start in range(0, len(images), batch_size):
            x = (images[start : start + batch_size].to(device, non_blocking=True).float() / 255 - 0.5) / 0.5
            logits = model(x)
            out.append((logits.sigmoid() if multi_label else logits.softmax(-1)).double().cpu())
    return torch.cat(out).numpy()


def _weights_digest(state: dict) -> str:
    h = hashlib.sha256()
    for name, tensor in state.items():
        h.update(name.encode())
        h.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return "sha256:" + h.hexdigest()


def train_baseline(dataset: str, *, arch: str = "resnet18", size: int = 28, epochs: int = 100, batch_size: int = 128, lr: float = 1e-3,
                   seed: int = 0, device: str = "cpu", data_root=None, progress: bool = True) -> dict:
    """Train and evaluate one baseline; returns everything a record needs."""
    import torch
    from torch import nn
    from tqdm.auto import tqdm

    if epochs < 1 or batch_size < 1:
        raise ConfigError("--epochs and --batch-size must be at least 1", fix="pass a positive number")
    ds = catalogue.lookup(dataset)
    size = medmnist.resolve_size(size)
    build_resnet(arch, 1, 2, size)  # validates --arch before any data is read
    splits = {s: medmnist.load_split(ds.flag, s, root=data_root, size=size) for s in medmnist.SPLITS}
    n_classes = len(medmnist.class_names(ds.flag))
    multi_label = splits["train"][1].shape[1] > 1  # ChestMNIST's 14 binary labels
    torch.manual_seed(seed)
    order = torch.Generator().manual_seed(seed)
    # Small sets live on the device as uint8 and are normalised per batch; big ones stay in host memory.
    images = {s: _nchw(splits[s][0]) for s in splits}
    total = sum(x.numel() for x in images.values())
    home = device if total < 2**31 else "cpu"
    images = {s: x.to(home) for s, x in images.items()}
    labels = {s: splits[s][1] for s in splits}
    train_y = torch.as_tensor(labels["train"], dtype=torch.float32 if multi_label else torch.long, device=device)
    if not multi_label:
        train_y = train_y[:, 0]
    model = build_resnet(arch, images["train"].shape[1], n_classes, size).to(device)
    criterion = nn.BCEWithLogitsLoss() if multi_label else nn.CrossEntropyLoss()
    optimiser = torch.optim.Adam(model.parameters(), lr=lr)
    schedule = torch.optim.lr_scheduler.MultiStepLR(optimiser, milestones=milestones(epochs), gamma=0.1)
    val_y = labels["val"] if multi_label else labels["val"][:, 0]
    best = {"auc": -1.0, "epoch": 0, "state": None}
    history = []
    started = time.perf_counter()
    bar = tqdm(range(1, epochs + 1), desc=f"{arch} {ds.flag} {size}px seed {seed}", unit="epoch", disable=not progress)
    for epoch in bar:
        model.train()
        total_loss, seen = 0.0, 0
        for batch in torch.randperm(len(train_y), generator=order).split(batch_size):
            x = (images["train"][batch.to(home)].to(device, non_blocking=True).float() / 255 - 0.5) / 0.5
            loss = criterion(model(x), train_y[batch.to(device)])
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
            total_loss, seen = total_loss + loss.item() * len(batch), seen + len(batch)
        lr_used = optimiser.param_groups[0]["lr"]
        schedule.step()
        val = score_block(val_y, _scores(model, images["val"], device, multi_label), multi_label)
        history.append({"epoch": epoch, "lr": lr_used, "train_loss": total_loss / seen, "val_auc": val["auc"], "val_acc": val["acc"]})
        if val["auc"] is not None and val["auc"] > best["auc"]:
            best = {"auc": val["auc"], "epoch": epoch, "state": copy.deepcopy(model.state_dict())}
        bar.set_postfix(loss=f"{total_loss / seen:.3f}", val_auc=f"{val['auc'] or 0:.3f}", best_epoch=best["epoch"])
    train_seconds = time.perf_counter() - started
    test_y = labels["test"] if multi_label else labels["test"][:, 0]
    last_scores = _scores(model, images["test"], device, multi_label)
    if best["state"] is not None:
        model.load_state_dict(best["state"])
    scores = {"test": _scores(model, images["test"], device, multi_label), "val": _scores(model, images["val"], device, multi_label)}
    classes = medmnist.class_of_each_row(ds.flag, labels["test"])
    balanced = medmnist.balanced_indices(classes, n_classes, per_class=None, seed=medmnist.SUBSET_SEED)
    return {
        "dataset": ds,
        "size": size,
        "multi_label": multi_label,
        "n_classes": n_classes,
        "n": {s: len(labels[s]) for s in labels},
        "balanced": score_block(test_y[balanced], scores["test"][balanced], multi_label),
        "balanced_rows": balanced,
        "test_y": test_y,
        "test_scores": scores["test"],
        "full": score_block(test_y, scores["test"], multi_label),
        "last": score_block(test_y, last_scores, multi_label),
        "val": score_block(val_y, scores["val"], multi_label),
        "best_epoch": best["epoch"],
        "history": history,
        "train_seconds": train_seconds,
        "weights": _weights_digest(model.state_dict()),
        "settings": {"arch": arch, "size": size, "epochs": epochs, "batch_size": batch_size, "lr": lr, "milestones": milestones(epochs),
                     "seed": seed, "in_channels": int(images["train"].shape[1]), "device": str(device),
                     "loss": "BCEWithLogits" if multi_label else "CrossEntropy"},
    }


def baseline_record(result: dict, data_root=None) -> dict:
    from .records import build_probe_record, metric, per_doc, scores_to_metrics

    ds, s = result["dataset"], result["settings"]
    metrics = scores_to_metrics(result["balanced"], result["full"], result["val"], result["multi_label"])
    metrics["acc_full_last"] = metric(result["last"]["acc"], result["last"]["n"], not result["multi_label"])
    metrics["auc_full_last"] = metric(result["last"]["auc"])
    published = PUBLISHED.get((s["arch"], s["size"], ds.flag))
    comparison = None
    if published:
        # Tolerance: two binomial standard errors of a test accuracy near the published one.
        n = result["full"]["n"]
        tol = 2 * (published["acc"] * (1 - published["acc"]) / n) ** 0.5
        comparison = {**published, "source": PUBLISHED_SOURCE, "acc_tolerance": round(tol, 4),
                      "acc_delta": round(result["full"]["acc"] - published["acc"], 4),
                      "auc_delta": None if result["full"]["auc"] is None else round(result["full"]["auc"] - published["auc"], 4),
                      "acc_within_tolerance": abs(result["full"]["acc"] - published["acc"]) <= tol}
    details = {"arch": s["arch"], "size": s["size"], "recipe": dict(RECIPE), "settings": s, "selection": {"selected": "epoch", "epoch": result["best_epoch"], "val_auc": result["val"]["auc"]},
               "history": result["history"], "train_seconds": round(result["train_seconds"], 1), "published": comparison}
    data = {"source": "medmnist", "dataset": ds.flag, "size": s["size"], "medmnist_root": str(medmnist.resolve_root(data_root)),
            "n_train": result["n"]["train"], "n_val": result["n"]["val"], "n_test": result["n"]["test"], "subset_seed": medmnist.SUBSET_SEED}
    config = {"recipe": RECIPE, **{k: s[k] for k in ("arch", "size", "epochs", "batch_size", "lr", "seed")}}
    return build_probe_record(task=f"baseline_medmnist_{ds.name}", model={"id": s["arch"], "fingerprint": result["weights"], "backend": "torchvision (trained from scratch)"},
                        config=config, data=data, n_docs=result["balanced"]["n"], n_docs_full=result["full"]["n"], metrics=metrics,
                        how="medbridge baseline (MedMNIST v2 recipe)", block="baseline", details=details,
                        per_doc=per_doc(result["balanced_rows"], result["test_y"], result["test_scores"], result["multi_label"]))
