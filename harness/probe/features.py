"""Frozen vision-tower features for linear probing, and the on-disk cache that makes a second
probe of the same checkpoint cost no extraction.

Two ways into a checkpoint's image encoder:

- ``qwen``: Qwen2-VL / Qwen2.5-VL / Qwen3-VL (and any model whose ``visual`` module has a
  ``spatial_merge_size``; Qwen3-VL's deepstack taps are not used). ``visual(pixel_values, grid_thw)`` returns the merged tokens of all
  images of a batch concatenated (transformers 5 puts them in ``pooler_output``, 4.x returns the
  tensor); image i owns ``t*h*w / merge_size**2`` of them. This is the paper's ``linprobe.py``
  feature: tokens after the 2x2 merger, mean-pooled (max optional).
- ``generic``: any model exposing ``get_image_features`` (LLaVA-style towers + projector);
  its per-image outputs are pooled the same way.

Only the encoder is kept on the device: for the qwen path the language model is dropped right
after loading. Images go through the checkpoint's own image processor, one call per batch
(MedMNIST images share one size, so the processor handles the batch as one stacked tensor; on
a GPU it runs there). Qwen towers run through ``packed_tower`` (geometry computed once per
batch shape, one batched attention call per block) instead of transformers' per-image loops.
"""

from __future__ import annotations

import inspect
import json
import os
from collections import deque
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from ..atomic_write import atomic_write, write_json_atomic
from ..errors import CheckpointError, ConfigError
from ..fingerprint import config_hash
from ..host import cache_root

POOLINGS = ("mean", "max")
DTYPES = ("auto", "bfloat16", "float16", "float32")
CACHE_ENV = "MEDBRIDGE_FEATURE_CACHE"
# Bump when a change here changes the stored numbers, so old cache entries stop matching.
EXTRACTION_VERSION = 2
# Batches a GPU extraction may have queued ahead of the one it waits for.
QUEUED_BATCHES = 2


def default_cache_dir() -> Path:
    """``$MEDBRIDGE_FEATURE_CACHE``, else ``features/`` under medbridge's cache root
    (``$MEDBRIDGE_CACHE``, else ``$XDG_CACHE_HOME/medbridge``, else ``~/.cache/medbridge``)."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]).expanduser()
    return cache_root() / "features"


@dataclass(frozen=True)
class FeatureKey:
    """What a cached feature matrix depends on. ``n_rows`` keeps a partial copy of a split
    from ever being served a full copy's features (and the reverse)."""

    fingerprint: str
    dataset: str
    split: str
    size: int
    pooling: str
    dtype: str
    n_rows: int
    version: int = EXTRACTION_VERSION

    def stem(self) -> str:
        digest = config_hash(asdict(self)).removeprefix("sha256:")  # the project's settings hash
        return f"{self.dataset}_{self.size}px_{self.split}_{self.pooling}_{digest}"


class FeatureCache:
    """``<root>/<stem>.npy`` (float32, one row per image of the split) and ``<stem>.json`` (the
    key). The matrix is written first and the key last, each atomically: an entry without its
    key (a crash in between) is a miss, never a half-read."""

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root).expanduser()

    def _paths(self, key: FeatureKey) -> tuple[Path, Path]:
        return self.root / f"{key.stem()}.npy", self.root / f"{key.stem()}.json"

    def load(self, key: FeatureKey) -> np.ndarray | None:
        npy, meta = self._paths(key)
        if not (npy.is_file() and meta.is_file()):
            return None
        try:
            stored = json.loads(meta.read_text())
            features = np.load(npy)
        except (OSError, ValueError):
            return None  # unreadable entry: extract again and overwrite it
        if stored.get("key") != asdict(key) or features.ndim != 2 or len(features) != key.n_rows:
            return None
        return features

    def save(self, key: FeatureKey, features: np.ndarray) -> Path:
        npy, meta = self._paths(key)
        with atomic_write(npy, "wb") as f:
            np.save(f, np.ascontiguousarray(features, dtype=np.float32))
        write_json_atomic(meta, {"key": asdict(key), "shape": list(features.shape)})
        return npy


def resolve_dtype(dtype: str, device: str):
    """``auto`` is bfloat16 on a GPU (as the paper's linprobe) and float32 on CPU."""
    import torch

    if dtype not in DTYPES:
        raise ConfigError(f"unknown --dtype {dtype!r}", fix=f"use one of {', '.join(DTYPES)}")
    if dtype == "auto":
        dtype = "bfloat16" if str(device).startswith("cuda") else "float32"
    return getattr(torch, dtype)


def pool_segments(tokens, counts, pooling: str = "mean"):
    """Pool consecutive runs of rows: image i owns the next ``counts[i]`` tokens. One scatter
    op for the whole batch (no per-image Python loop); float32 out. ``counts`` is a host
    tensor, so nothing here waits for the GPU."""
    import torch

    counts = counts.cpu()
    if int(counts.sum()) != tokens.shape[0]:
        raise RuntimeError(f"the tower returned {tokens.shape[0]} tokens for images that should have {int(counts.sum())}")
    owner = torch.repeat_interleave(torch.arange(len(counts)), counts)
    if tokens.device.type == "cuda":
        owner, counts = owner.pin_memory().to(tokens.device, non_blocking=True), counts.pin_memory().to(tokens.device, non_blocking=True)
    tokens = tokens.float()
    shape = (len(counts), tokens.shape[-1])
    if pooling == "mean":
        return tokens.new_zeros(shape).index_add_(0, owner, tokens) / counts.unsqueeze(1).to(tokens.dtype)
    if pooling == "max":
        return tokens.new_full(shape, float("-inf")).scatter_reduce_(0, owner.unsqueeze(1).expand_as(tokens), tokens, "amax")
    raise ConfigError(f"unknown pooling {pooling!r}", fix=f"use one of {', '.join(POOLINGS)}")


def _qwen_visual(model):
    for owner in (getattr(model, "model", None), model):
        visual = getattr(owner, "visual", None) if owner is not None else None
        if visual is not None and hasattr(visual, "spatial_merge_size"):
            return visual
    return None


class VisionTower:
    """A checkpoint's frozen image encoder and image processor, on one device."""

    def __init__(self, kind: str, encoder, image_processor, device, dtype, merge_size: int | None = None, packed: bool = True):
        from .packed_tower import enable_packed_forward

        self.kind, self.encoder, self.image_processor = kind, encoder, image_processor
        self.device, self.dtype, self.merge_size = device, dtype, merge_size
        # None: transformers' own forward (generic towers, transformers 4.x, or packed=False)
        self.geometry = enable_packed_forward(encoder, device) if packed and kind == "qwen" else None
        self._processor_kwargs = set(getattr(image_processor, "_valid_kwargs_names", None) or ())
        if kind == "generic":
            self._accepts = set(inspect.signature(encoder).parameters)

    @classmethod
    def load(cls, model: str, device: str = "cpu", dtype: str = "auto", path: str = "auto", packed: bool = True) -> VisionTower:
        """``path``: ``auto`` (qwen when the model has a Qwen-style ``visual``), ``qwen`` or ``generic``.
        ``packed=False`` keeps transformers' own per-image forward (same numbers, slower)."""
        import torch
        from transformers import AutoConfig, AutoImageProcessor, AutoModel, AutoModelForImageTextToText

        from ..fingerprint import check_checkpoint

        ref = check_checkpoint(model)
        config = AutoConfig.from_pretrained(ref)
        if getattr(config, "vision_config", None) is None:
            raise CheckpointError(
                f"checkpoint has no vision tower (model_type {getattr(config, 'model_type', '?')!r}, no vision_config)",
                where=model,
                fix="probe a vision-language checkpoint, e.g. Qwen/Qwen2.5-VL-7B-Instruct",
            )
        torch_dtype = resolve_dtype(dtype, device)
        try:
            full = AutoModelForImageTextToText.from_pretrained(ref, dtype=torch_dtype)
        except ValueError:  # an architecture that auto class does not map: take the bare model
            full = AutoModel.from_pretrained(ref, dtype=torch_dtype)
        image_processor = AutoImageProcessor.from_pretrained(ref)
        visual = _qwen_visual(full) if path in ("auto", "qwen") else None
        if visual is not None:
            # Keep only the encoder: the language model (most of a 7B checkpoint) is released here.
            encoder = visual.to(device).eval().requires_grad_(False)
            return cls("qwen", encoder, image_processor, torch.device(device), torch_dtype, merge_size=int(visual.spatial_merge_size), packed=packed)
        if path == "qwen" or not hasattr(full, "get_image_features"):
            raise CheckpointError(
                f"no vision tower found in {type(full).__name__}: neither a Qwen-style `visual` module nor `get_image_features`",
                where=model,
                fix="probe a vision-language checkpoint (Qwen2-VL, Qwen2.5-VL, or one whose model class has get_image_features)",
            )
        full = full.to(device).eval().requires_grad_(False)
        return cls("generic", full.get_image_features, image_processor, torch.device(device), torch_dtype)

    def preprocess(self, images: np.ndarray) -> tuple[dict, int]:
        """uint8 (B, H, W) grey or (B, H, W, 3) RGB -> (the processor's tensors for the batch, B)."""
        import torch

        x = torch.from_numpy(np.ascontiguousarray(images))
        kwargs = {"return_tensors": "pt"}
        fast = "disable_grouping" in self._processor_kwargs  # torchvision-based: takes tensors, maybe a device
        if fast and "device" in self._processor_kwargs and self.device.type == "cuda":
            # The compact uint8 batch goes up pinned and non_blocking: a plain .to(cuda) of
            # pageable memory waits for everything queued on the stream before it.
            x = x.pin_memory().to(self.device, non_blocking=True)
            kwargs["device"] = self.device
        x = x.unsqueeze(1).expand(-1, 3, -1, -1) if x.ndim == 3 else x.permute(0, 3, 1, 2)
        if fast:
            # transformers disables grouping on CPU by default (one op per image); all images of
            # a MedMNIST split share one size, so grouped means one op for the whole batch.
            kwargs["disable_grouping"] = False
            batch = x
        else:  # PIL-based processors take a list of HWC arrays
            batch = list(x.permute(0, 2, 3, 1).numpy())
        return dict(self.image_processor(images=batch, **kwargs)), len(images)

    def forward(self, batch: tuple[dict, int]):
        """The bare tower call on one preprocessed batch (also the benchmark's reference)."""
        inputs, _ = batch
        pixel_values = inputs["pixel_values"].to(self.device, self.dtype, non_blocking=True)
        if self.geometry is not None:  # grid_thw stays on the host: no sync
            return self.encoder(pixel_values, **self.geometry.kwargs(inputs["image_grid_thw"]))
        if self.kind == "qwen":
            return self.encoder(pixel_values, grid_thw=inputs["image_grid_thw"].to(self.device))
        kwargs = {k: v.to(self.device) if hasattr(v, "to") else v for k, v in inputs.items() if k in self._accepts and k != "pixel_values"}
        return self.encoder(pixel_values=pixel_values, **kwargs)

    def encode(self, batch: tuple[dict, int], pooling: str = "mean"):
        """Pooled float32 features (B, D) of one preprocessed batch (call under inference mode)."""
        out = self.forward(batch)
        inputs, n_images = batch
        if self.kind == "qwen":
            tokens = getattr(out, "pooler_output", out)  # transformers 5: merged tokens; 4.x: the tensor
            return pool_segments(tokens, inputs["image_grid_thw"].prod(-1) // self.merge_size**2, pooling)
        return _pool_generic(out, n_images, pooling)


def _pool_generic(out, n_images: int, pooling: str):
    """``get_image_features`` output in its common shapes -> (B, D): a per-image list/tuple of
    token tensors (transformers 5 puts it in ``pooler_output``), a (B, T, D) tensor, or (B, D)."""
    import torch

    if getattr(out, "pooler_output", None) is not None:
        out = out.pooler_output
    elif getattr(out, "last_hidden_state", None) is not None:
        out = out.last_hidden_state
    if isinstance(out, (list, tuple)):
        per_image = [t.reshape(-1, t.shape[-1]) for t in out]
        counts = torch.tensor([len(t) for t in per_image])
        return pool_segments(torch.cat(per_image), counts, pooling)
    if out.ndim == 3:
        return out.float().mean(1) if pooling == "mean" else out.float().amax(1)
    if out.ndim == 2 and out.shape[0] == n_images:
        return out.float()
    raise CheckpointError(f"cannot read get_image_features output of shape {tuple(out.shape)} as per-image features", fix="use a model with a Qwen-style `visual` or per-image features")


def extract(tower: VisionTower, images: np.ndarray, batch_size: int = 64, pooling: str = "mean", progress: bool = True, desc: str | None = None) -> np.ndarray:
    """Pooled float32 features (N, D) of uint8 images (N, H, W[, 3]), in order.

    One loop on this thread, no helper: on a GPU every step (upload, processor, tower, pooling,
    copy into pinned host memory) is queued without waiting, so the processor of batch i+1
    runs while the GPU is still busy with batch i. The loop waits only for the batch
    ``QUEUED_BATCHES`` back, which keeps the GPU fed while bounding how far the host runs ahead
    (and keeps the progress bar honest). On a CPU a helper thread would only compete with
    torch's own threads for the same cores."""
    import torch
    from tqdm.auto import tqdm

    n = len(images)
    if n == 0:
        raise ConfigError("no images to extract features from", fix="check the split is not empty")
    cuda = tower.device.type == "cuda"
    side = torch.cuda.Stream(tower.device) if cuda else None
    out, queued = None, deque()
    with torch.inference_mode(), tqdm(total=n, unit="img", desc=desc, disable=not progress, leave=False) as bar:
        for start in range(0, n, batch_size):
            features = tower.encode(_preprocess_on(tower, images[start : start + batch_size], side), pooling)
            if out is None:
                out = torch.empty((n, features.shape[1]), dtype=torch.float32, pin_memory=cuda)
            out[start : start + len(features)].copy_(features, non_blocking=cuda)
            if not cuda:
                bar.update(len(features))
                continue
            done = torch.cuda.Event()
            done.record(torch.cuda.current_stream(tower.device))
            queued.append((done, len(features)))
            if len(queued) > QUEUED_BATCHES:
                event, count = queued.popleft()
                event.synchronize()
                bar.update(count)
        for event, count in queued:  # the rest, in order
            event.synchronize()
            bar.update(count)
    return out.numpy()


def _preprocess_on(tower: VisionTower, chunk: np.ndarray, side):
    """``tower.preprocess``, on the ``side`` stream when there is one. transformers' torchvision
    processors wait for their stream once per call (they build the mean/std tensors from Python
    lists on the device); on a side stream that wait covers the preprocessing only, not the
    tower's queued forward passes on the main one."""
    if side is None:
        return tower.preprocess(chunk)
    import torch

    main = torch.cuda.current_stream(tower.device)
    with torch.cuda.stream(side):
        batch = tower.preprocess(chunk)
    main.wait_stream(side)
    for value in batch[0].values():
        if isinstance(value, torch.Tensor) and value.is_cuda:
            value.record_stream(main)  # made on the side stream: not reused there until main is done with it
    return batch


def distributed_state(cpu: bool = False):
    """accelerate's process state when launched with several processes (``accelerate launch``
    or ``torchrun``), else None. ``cpu``: gloo processes instead of one GPU each."""
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return None
    from accelerate import PartialState

    return PartialState(cpu=cpu)


def extract_sharded(tower: VisionTower, images: np.ndarray, state, **kwargs) -> np.ndarray:
    """Each process extracts one contiguous shard; an all-gather gives every process all rows."""
    import torch
    from accelerate.utils import gather

    shards = np.array_split(np.arange(len(images)), state.num_processes)  # shard 0 is the longest
    mine = shards[state.process_index]
    part = extract(tower, images[mine], **kwargs) if len(mine) else None
    dim = int(gather(torch.tensor([0 if part is None else part.shape[1]], device=state.device)).max())
    padded = torch.zeros((len(shards[0]), dim), dtype=torch.float32)
    if part is not None:
        padded[: len(part)] = torch.from_numpy(part)
    everything = gather(padded.to(state.device)).cpu().numpy().reshape(state.num_processes, len(shards[0]), dim)
    return np.concatenate([everything[r, : len(s)] for r, s in enumerate(shards)])


class LazyTower:
    """Loads the checkpoint on first use, so a probe served wholly from the cache never loads it."""

    def __init__(self, model: str, device: str, dtype: str = "auto", path: str = "auto", loader=VisionTower.load, packed: bool = True):
        self.args, self.loader, self._tower = (model, device, dtype, path, packed), loader, None

    def get(self) -> VisionTower:
        if self._tower is None:
            self._tower = self.loader(*self.args)
        return self._tower

    @property
    def kind(self) -> str | None:
        """``qwen`` or ``generic`` once loaded; None while every feature came from the cache."""
        return None if self._tower is None else self._tower.kind


def split_features(key: FeatureKey, load_images, tower: LazyTower, cache: FeatureCache | None, batch_size: int = 64, progress: bool = True,
                   state=None) -> tuple[np.ndarray, bool]:
    """Features of one split and whether they came from the cache. ``load_images()`` returns
    the split's uint8 images; it is called on a cache miss only. With an accelerate ``state``
    every process extracts a shard and all get every row; the main process writes the cache."""
    if cache is not None:
        hit = cache.load(key)
        if hit is not None:
            return hit, True
    images = load_images()
    if len(images) != key.n_rows:
        raise RuntimeError(f"{key.dataset}/{key.split}: {len(images)} images for {key.n_rows} labels")
    desc = f"{key.dataset}/{key.split}"
    if state is not None:
        features = extract_sharded(tower.get(), images, state, batch_size=batch_size, pooling=key.pooling, progress=progress and state.is_main_process, desc=desc)
    else:
        features = extract(tower.get(), images, batch_size=batch_size, pooling=key.pooling, progress=progress, desc=desc)
    if cache is not None and (state is None or state.is_main_process):
        cache.save(key, features)
    return features, False
