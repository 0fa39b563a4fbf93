"""Probe speed, printed as ratios measured in one run.

1. Extraction throughput of the whole pipeline (``medbridge.harness.probe.features.extract``:
   uint8 images -> processor -> tower -> pooled float32 features in host memory) against a bare
   forward pass of the same tower on the same batches, preprocessed beforehand (target >= 0.8).
   Also: transformers' own forward of that tower (``visual(pixel_values, grid_thw)``, per-image
   geometry and one attention call per image or window) on the same batches, the processor
   alone, and the tensor ops each forward issues per batch (each one a kernel launch on a GPU).
2. Probe fit time of both heads on 10,000 features of the tiny model (target < 60 s on CPU).

    python benchmarks/probe_speed.py                       # tiny offline Qwen2.5-VL, CPU
    python benchmarks/probe_speed.py --model Qwen/Qwen2.5-VL-7B-Instruct --device cuda --size 224

Each rate is the best of --repeats interleaved rounds after one warm-up (the usual way to read
through noise from other processes on a shared machine).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np


def _sync(device: str) -> None:
    import torch

    if str(device).startswith("cuda"):
        torch.cuda.synchronize()


def best_rates(fns: dict, n: int, repeats: int, device: str) -> dict:
    """Images per second of each function: one warm-up each, then ``repeats`` rounds that run
    them in turn (interleaved, so a slow spell on a shared machine hits all of them), best round."""
    for fn in fns.values():
        fn()  # warm-up: allocator, kernels, oneDNN primitives
    times = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            _sync(device)
            start = time.perf_counter()
            fn()
            _sync(device)
            times[name].append(time.perf_counter() - start)
    return {name: n / min(t) for name, t in times.items()}


def plain_forward(tower, batch):
    """The tower as transformers runs it: ``visual(pixel_values, grid_thw)``."""
    inputs, _ = batch
    if tower.geometry is None:
        return tower.forward(batch)
    attention = tower.encoder.config._attn_implementation
    tower.encoder.config._attn_implementation = tower.geometry.model_attention
    try:
        return tower.encoder(inputs["pixel_values"].to(tower.device, tower.dtype), grid_thw=inputs["image_grid_thw"].to(tower.device))
    finally:
        tower.encoder.config._attn_implementation = attention


def throughput(tower, images: np.ndarray, batch_size: int, repeats: int, device: str) -> dict:
    """Images per second of: the processor alone, transformers' plain forward and the bare
    (packed) tower forward on preprocessed batches, and the whole pipeline (processor + tower +
    pooling + host copy); plus the ops of one plain and one bare forward of the first batch."""
    import torch
    from medbridge.harness.probe.features import extract
    from medbridge.harness.probe.packed_tower import dispatched_ops

    chunks = [images[i : i + batch_size] for i in range(0, len(images), batch_size)]
    batches = [tower.preprocess(chunk) for chunk in chunks]

    def processor():
        for chunk in chunks:
            tower.preprocess(chunk)

    def plain():
        with torch.inference_mode():
            for batch in batches:
                plain_forward(tower, batch)

    def bare():
        with torch.inference_mode():
            for batch in batches:
                tower.forward(batch)

    def pipeline():
        extract(tower, images, batch_size=batch_size, progress=False)

    rates = best_rates({"processor": processor, "plain": plain, "bare": bare, "pipeline": pipeline}, len(images), repeats, device)
    rates["ops_plain"] = dispatched_ops(lambda: plain_forward(tower, batches[0]))
    rates["ops_bare"] = dispatched_ops(lambda: tower.forward(batches[0]))
    return rates


def qwen25_7b_shaped_tower(device: str, dtype: str, narrow: bool = False):
    """A random-weight tower with Qwen2.5-VL-7B's vision config (32 blocks, width 1280, merger
    to 3584) and the default Qwen2-VL image processor: the real model's cost, for speed only.
    ``narrow``: the same blocks, windows and full-attention layers at width 128 (the 7B's
    control flow and op count at a CPU-sized cost)."""
    import torch
    from medbridge.harness.probe.features import VisionTower, resolve_dtype
    from transformers import Qwen2VLImageProcessor
    from transformers.models.qwen2_5_vl.configuration_qwen2_5_vl import Qwen2_5_VLVisionConfig
    from transformers.models.qwen2_5_vl.modeling_qwen2_5_vl import Qwen2_5_VisionTransformerPretrainedModel

    width = dict(hidden_size=128, intermediate_size=342, out_hidden_size=256) if narrow else dict(hidden_size=1280, intermediate_size=3420, out_hidden_size=3584)
    config = Qwen2_5_VLVisionConfig(depth=32, num_heads=16, patch_size=14, **width,
                                    spatial_merge_size=2, temporal_patch_size=2, window_size=112, fullatt_block_indexes=[7, 15, 23, 31], hidden_act="silu")
    torch_dtype = resolve_dtype(dtype, device)
    with torch.device(device):
        visual = Qwen2_5_VisionTransformerPretrainedModel._from_config(config, dtype=torch_dtype).eval().requires_grad_(False)
    return VisionTower("qwen", visual, Qwen2VLImageProcessor(), torch.device(device), torch_dtype, merge_size=2)


def fit_times(tower, n: int, batch_size: int, seed: int = 0) -> None:
    from medbridge.harness.probe.features import extract
    from medbridge.harness.probe.heads import fit_probe
    from medbridge.harness.probe.metrics import accuracy
    from medbridge.harness.sources.medmnist import load_split
    from medbridge.harness.sources.medmnist_sample import write_sample

    n_classes = 9  # PathMNIST-shaped sample: 9 classes, RGB
    per_class = -(-n // n_classes)
    with tempfile.TemporaryDirectory() as root:
        write_sample(root, flags=["pathmnist"], size=28, counts={"train": per_class, "val": per_class // 10, "test": per_class // 10}, seed=seed)
        splits = {s: load_split("pathmnist", s, root=root, size=28) for s in ("train", "val", "test")}
    start = time.perf_counter()
    feats = {s: extract(tower, images[:n] if s == "train" else images, batch_size=batch_size, progress=False) for s, (images, _) in splits.items()}
    labels = {s: y[: len(feats[s]), 0] for s, (_, y) in splits.items()}
    print(f"features: train {feats['train'].shape}, val {feats['val'].shape}, test {feats['test'].shape} extracted in {time.perf_counter() - start:.1f} s")
    for head in ("paper", "logreg"):
        start = time.perf_counter()
        fitted = fit_probe(head, feats["train"], labels["train"], feats["val"], labels["val"], n_classes, seed=seed)
        seconds = time.perf_counter() - start
        acc = accuracy(labels["test"], fitted.predict_proba(feats["test"]))
        verdict = "meets" if seconds < 60 else "MISSES"
        print(f"fit {head:<6} on {len(feats['train'])} x {feats['train'].shape[1]} features: {seconds:6.2f} s  ({verdict} < 60 s)  "
              f"selected {fitted.selection}  test acc {acc:.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default=None, help="checkpoint (default: build the tiny offline Qwen2.5-VL)")
    parser.add_argument("--tower", default="tiny", choices=["tiny", "qwen2.5-vl-7b-shape", "qwen2.5-vl-7b-depth"],
                        help="without --model: the tiny checkpoint, a random tower of the 7B's shape, or of its depth and layout at width 128")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", default="auto")
    parser.add_argument("--size", type=int, action="append", help="image size(s) to time (default: 28 and 224)")
    parser.add_argument("--n", type=int, default=1024, help="images per throughput run")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--fit-n", type=int, default=10_000, help="train features for the fit-time run")
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's)")
    args = parser.parse_args()

    import torch
    from medbridge.harness.probe.features import VisionTower

    if args.threads:
        torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        model = args.model
        if model is None and args.tower == "tiny":
            from medbridge.harness.tiny_model import build_tiny_qwen2_5_vl

            model = str(build_tiny_qwen2_5_vl(Path(tmp) / "tiny", teach_format=False))
        tower = VisionTower.load(model, args.device, args.dtype) if model else qwen25_7b_shaped_tower(args.device, args.dtype, narrow=args.tower.endswith("depth"))
        print(f"model {args.model or args.tower}  encoder {tower.kind}  device {args.device}  dtype {tower.dtype}  "
              f"torch threads {torch.get_num_threads()}  batch {args.batch_size}")
        rng = np.random.default_rng(0)
        for size in args.size or [28, 224]:
            images = rng.integers(0, 256, (args.n, size, size), dtype=np.uint8)
            rate = throughput(tower, images, args.batch_size, args.repeats, args.device)
            ratio = rate["pipeline"] / rate["bare"]
            serial = 1 / (1 / rate["processor"] + 1 / rate["bare"])  # processor then tower, nothing overlapped
            print(f"extraction {size:>3} px, {args.n} images: processor alone {rate['processor']:8.1f} img/s  transformers forward {rate['plain']:8.1f} img/s  "
                  f"bare tower forward {rate['bare']:8.1f} img/s  pipeline {rate['pipeline']:8.1f} img/s\n"
                  f"    ratio pipeline/bare {ratio:.2f} ({'meets' if ratio >= 0.8 else 'MISSES'} >= 0.8)  "
                  f"pipeline/(processor+forward in series) {rate['pipeline'] / serial:.2f} (so pipeline/bare without overlap <= {serial / rate['bare']:.2f})  "
                  f"bare/transformers forward {rate['bare'] / rate['plain']:.2f}x  pipeline/transformers forward {rate['pipeline'] / rate['plain']:.2f}  "
                  f"ops per {min(args.batch_size, args.n)}-image forward: transformers {rate['ops_plain']}, bare {rate['ops_bare']}")
        if args.fit_n:
            fit_times(tower, args.fit_n, args.batch_size)


if __name__ == "__main__":
    main()
