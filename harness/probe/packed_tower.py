"""A sync-free, loop-free forward of Qwen2-VL / Qwen2.5-VL / Qwen3-VL vision towers for
batches of same-sized images (every MedMNIST split).

transformers' own ``visual(pixel_values, grid_thw)`` has per-image Python work in every call:
it builds rotary position ids and the window index image by image, reads ``grid_thw`` back
with ``.tolist()`` (a host-GPU sync when it lives on the GPU), and, unless flash-attn is
installed, runs attention one image (full blocks) or one window (window blocks) at a time:
about 15,000 SDPA calls per 128-image batch of a Qwen2.5-VL-7B tower at 224 px, which makes
the forward pass bound by Python and kernel launches instead of the GPU.

Two hand-written pieces remove that (no library does it; transformers >= 5 provides the hooks):

- ``TowerGeometry``: the position ids, window index and cumulative sequence lengths depend only
  on the batch's grids, so they are computed once per (grid, batch size) with transformers'
  own ``vision_utils`` functions on the CPU, moved to the device once, and passed to the tower
  as the precomputed keyword arguments those functions accept.
- ``packed_sdpa``: an attention function registered with transformers' ``AttentionInterface``.
  When every packed segment has the same length (all images share one grid, so all windows do
  too), block-diagonal attention over the packed sequence is the same as one batched SDPA call
  over (segments, heads, length, dim); uneven segments fall back to one call per segment, as
  transformers does. transformers sends ``cu_seqlens`` to an implementation only when its name
  contains "flash" (``is_flash_attention_requested``), hence the registered name.
"""

from __future__ import annotations

from collections import OrderedDict

ATTENTION_NAME = "medbridge_flash_packed_sdpa"
_registered = False


def packed_sdpa(module, query, key, value, attention_mask=None, scaling=None, dropout=0.0, cu_seq_lens_q=None, max_length_q=None, **_):
    """(1, heads, tokens, dim) packed q/k/v with segment bounds -> (1, tokens, heads, dim)."""
    import torch
    import torch.nn.functional as F

    _, heads, total, dim = query.shape
    segments = cu_seq_lens_q.shape[0] - 1  # a shape, known on the host: no sync
    if max_length_q is not None and max_length_q * segments == total:
        # Each segment is at most max_length_q long and together they fill `total`, so all are
        # exactly that long: the block-diagonal attention is a batch of dense ones.
        q, k, v = (t.reshape(heads, segments, max_length_q, dim).transpose(0, 1) for t in (query, key, value))
        out = F.scaled_dot_product_attention(q, k, v, scale=scaling, dropout_p=dropout)
        return out.permute(0, 2, 1, 3).reshape(1, total, heads, dim), None
    lengths = (cu_seq_lens_q[1:] - cu_seq_lens_q[:-1]).tolist()
    parts = zip(*(t.split(lengths, dim=2) for t in (query, key, value)))
    out = torch.cat([F.scaled_dot_product_attention(q, k, v, scale=scaling, dropout_p=dropout) for q, k, v in parts], dim=2)
    return out.transpose(1, 2), None


def register_attention() -> bool:
    """Register ``packed_sdpa`` once; False where transformers has no ``AttentionInterface``."""
    global _registered
    if not _registered:
        try:
            from transformers import AttentionInterface
        except ImportError:
            return False
        AttentionInterface.register(ATTENTION_NAME, packed_sdpa)
        _registered = True
    return True


def tower_kind(visual) -> str | None:
    """``window`` for Qwen2.5-VL-style towers (window + full blocks), ``full`` for Qwen2-VL-style
    ones, ``interp`` for Qwen3-VL-style ones (full blocks, learned position table resampled to
    each grid), None for anything whose forward this module does not know."""
    name = type(visual).__name__
    if name.startswith("Qwen2_5_Vision"):
        return "window"
    if name.startswith("Qwen2Vision"):
        return "full"
    if name.startswith("Qwen3VL") and name.endswith("VisionModel"):  # Qwen3-VL and Qwen3-VL-MoE
        return "interp"
    return None


class TowerGeometry:
    """Precomputed per-batch-shape keyword arguments for one tower, cached on its device."""

    def __init__(self, visual, device, max_entries: int = 8):
        from transformers import vision_utils  # transformers >= 5; the caller checks

        self.visual, self.device, self.kind = visual, device, tower_kind(visual)
        self.model_attention = visual.config._attn_implementation  # what transformers had picked
        self._utils, self._cache, self._max = vision_utils, OrderedDict(), max_entries

    def kwargs(self, grid_thw) -> dict:
        """Keyword arguments for ``visual(pixel_values, grid_thw=..., **kwargs)``; ``grid_thw`` on the CPU."""
        key = tuple(map(tuple, grid_thw.tolist()))
        hit = self._cache.get(key)
        if hit is None:
            hit = self._cache[key] = self._compute(grid_thw.cpu())
            if len(self._cache) > self._max:
                self._cache.popitem(last=False)
        self._cache.move_to_end(key)
        return dict(hit)  # the tower pops what it uses: hand it a copy

    def _compute(self, grid_thw) -> dict:
        u, visual, config = self._utils, self.visual, self.visual.config
        cu_seqlens = u.get_vision_cu_seqlens(grid_thw)
        out = {
            "grid_thw": grid_thw.to(self.device),
            "position_ids": u.get_vision_position_ids(grid_thw, visual.spatial_merge_size),
            "cu_seqlens": cu_seqlens,
            "max_seqlen": int((cu_seqlens[1:] - cu_seqlens[:-1]).max()),
        }
        if self.kind == "window":
            window_index, cu_window = u.get_vision_window_index(grid_thw, visual.spatial_merge_size, config.window_size, config.patch_size)
            out.update(window_index=window_index, cu_window_seqlens=cu_window, max_window_seqlen=int((cu_window[1:] - cu_window[:-1]).max()))
        elif self.kind == "interp":
            indices, weights = u.get_vision_interpolation_indices_and_weights(
                grid_thw, num_grid_per_side=visual.num_grid_per_side, mode=visual.interpolation_mode,
                align_corners=visual.interpolation_align_corners, spatial_merge_size=config.spatial_merge_size)
            out.update(interp_indices=indices, interp_weights=weights)
        return {k: v.to(self.device) if hasattr(v, "to") else v for k, v in out.items()}


def enable_packed_forward(visual, device) -> TowerGeometry | None:
    """Switch ``visual`` to ``packed_sdpa`` and return its geometry cache, or None (and leave the
    tower untouched) where transformers or the tower does not support it. A tower already set
    to a flash-attn implementation keeps it: flash varlen is as good, and the geometry still helps."""
    if tower_kind(visual) is None or not register_attention():
        return None
    try:
        geometry = TowerGeometry(visual, device)
    except ImportError:  # transformers 4.x: no precomputed-geometry hooks
        return None
    if "flash" not in (visual.config._attn_implementation or ""):
        visual.config._attn_implementation = ATTENTION_NAME
    return geometry


def dispatched_ops(fn) -> int:
    """Tensor ops that reach torch's dispatcher while ``fn()`` runs, after autograd and
    composite ops are decomposed: roughly the kernels a GPU would be asked to launch. The
    benchmark and tests use it to show what the packed forward saves."""
    import torch
    from torch.utils._python_dispatch import TorchDispatchMode

    class Count(TorchDispatchMode):
        n = 0

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            Count.n += 1
            return func(*args, **(kwargs or {}))

    with torch.inference_mode(), Count():
        fn()
    return Count.n
