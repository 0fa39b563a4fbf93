"""A small, deterministic MedMNIST-format sample for the demo and the tests.

Writes one npz per dataset in the official layout (``{flag}.npz`` at 28 px or
``{flag}_{size}.npz``; keys ``{train,val,test}_{images,labels}``; uint8 images, grey or RGB as
the real dataset; labels (N, 1), or (N, 14) multi-hot for ChestMNIST). Images are synthetic:
each class gets its own stripe frequency and orientation plus noise, so they are separable
(a probe can learn them) but carry no medical content. It stands in for the real files only
where those cannot be downloaded; ``medbridge demo --real`` uses the real ones.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .catalogue import MEDMNIST_BY_FLAG
from .medmnist import class_names, file_name, info

DEFAULT_COUNTS = {"train": 6, "val": 2, "test": 4}  # images per class and split


def _class_pattern(cls: int, n_classes: int, size: int, rng: np.random.Generator, channels: int) -> np.ndarray:
    yy, xx = np.mgrid[0:size, 0:size] / size
    angle = np.pi * cls / max(n_classes, 1)
    freq = 2 + 3 * cls
    wave = np.sin(2 * np.pi * freq * (xx * np.cos(angle) + yy * np.sin(angle)))
    img = 127.5 + 90 * wave + rng.normal(0, 20, size=(size, size))
    img = np.clip(img, 0, 255).astype(np.uint8)
    if channels == 3:
        tint = np.array([1.0, 0.6 + 0.4 * (cls % 2), 0.5 + 0.5 * ((cls // 2) % 2)])
        img = np.clip(img[..., None] * tint, 0, 255).astype(np.uint8)
    return img


def write_sample(root: str | Path, flags=None, size: int = 28, counts: dict | None = None, seed: int = 0) -> list[Path]:
    """Write the sample npz files under ``root``; returns their paths. Same inputs, same bytes."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    counts = counts or DEFAULT_COUNTS
    written = []
    for flag in flags or sorted(MEDMNIST_BY_FLAG):
        rng = np.random.default_rng([seed, sum(map(ord, flag))])
        n_classes = len(class_names(flag))
        channels = info(flag)["n_channels"]
        arrays = {}
        for split in ("train", "val", "test"):
            images, labels = [], []
            for cls in range(n_classes):
                for _ in range(counts[split]):
                    images.append(_class_pattern(cls, n_classes, size, rng, channels))
                    if flag == "chestmnist":
                        row = np.zeros(n_classes, dtype=np.uint8)
                        row[cls] = 1
                        labels.append(row)
                    else:
                        labels.append([cls])
            order = rng.permutation(len(images))
            arrays[f"{split}_images"] = np.stack(images)[order]
            arrays[f"{split}_labels"] = np.asarray(labels, dtype=np.uint8)[order]
        if flag == "chestmnist":  # real ChestMNIST also has images with no or several findings
            extra = np.zeros((2, n_classes), dtype=np.uint8)
            extra[1, :2] = 1
            arrays["test_images"] = np.concatenate([arrays["test_images"], arrays["test_images"][:2]])
            arrays["test_labels"] = np.concatenate([arrays["test_labels"], extra])
        path = root / file_name(flag, size)
        np.savez_compressed(path, **arrays)
        written.append(path)
    return written
