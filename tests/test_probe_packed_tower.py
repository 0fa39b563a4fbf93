"""The packed Qwen tower forward: same features as transformers' own forward, far fewer ops."""

import numpy as np
import pytest
import torch
from medbridge.harness.probe.features import VisionTower, extract
from medbridge.harness.probe.packed_tower import ATTENTION_NAME, enable_packed_forward, packed_sdpa
from medbridge.harness.probe.packed_tower import dispatched_ops as _ops


def _per_segment(q, k, v, bounds):
    """Reference: one SDPA call per segment, as transformers' non-flash path."""
    outs = [torch.nn.functional.scaled_dot_product_attention(q[..., a:b, :], k[..., a:b, :], v[..., a:b, :]) for a, b in zip(bounds, bounds[1:])]
    return torch.cat(outs, dim=2).transpose(1, 2)


@pytest.mark.parametrize("bounds", [[0, 4, 8, 12], [0, 4, 5, 12], [0, 12]])
def test_packed_sdpa_equals_one_call_per_segment(bounds):
    g = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(1, 2, 12, 8, generator=g) for _ in range(3))
    cu = torch.tensor(bounds, dtype=torch.int32)
    longest = max(b - a for a, b in zip(bounds, bounds[1:]))
    out, _ = packed_sdpa(None, q, k, v, cu_seq_lens_q=cu, max_length_q=longest)
    assert out.shape == (1, 12, 2, 8)
    torch.testing.assert_close(out, _per_segment(q, k, v, bounds), rtol=1e-6, atol=1e-6)
    # Without a maximum (nothing precomputed) it still gives the same answer.
    torch.testing.assert_close(packed_sdpa(None, q, k, v, cu_seq_lens_q=cu)[0], out, rtol=1e-6, atol=1e-6)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory, tiny_model):
    """Tiny checkpoint of an architecture, built once per module."""
    from medbridge.harness.tiny_model import build_tiny_vlm

    built = {"qwen2_5_vl": tiny_model}

    def get(arch):
        if arch not in built:
            built[arch] = build_tiny_vlm(tmp_path_factory.mktemp(arch) / "ckpt", arch)
        return str(built[arch])

    return get


@pytest.mark.parametrize("arch,kind", [("qwen2_5_vl", "window"), ("qwen2_vl", "full"), ("qwen3_vl", "interp")])
def test_packed_forward_gives_transformers_features_at_every_medmnist_size(arch, kind, checkpoint):
    """128 px makes uneven windows (the per-segment fallback); the others even ones."""
    packed, plain = VisionTower.load(checkpoint(arch), "cpu"), VisionTower.load(checkpoint(arch), "cpu", packed=False)
    assert packed.geometry is not None and packed.geometry.kind == kind and plain.geometry is None
    assert packed.encoder.config._attn_implementation == ATTENTION_NAME
    assert plain.encoder.config._attn_implementation != ATTENTION_NAME
    rng = np.random.default_rng(1)
    for size in (28, 64, 128, 224):
        images = rng.integers(0, 256, (5, size, size, 3), dtype=np.uint8)
        np.testing.assert_allclose(extract(packed, images, batch_size=5, progress=False), extract(plain, images, batch_size=5, progress=False), rtol=1e-5, atol=1e-6)


def test_qwen3_vl_features_are_its_own_image_features_mean_pooled(checkpoint):
    """Qwen3-VL (16 px patches, resampled position table, deepstack): same tokens as the model's own path."""
    from transformers import AutoImageProcessor, AutoModelForImageTextToText

    images = np.random.default_rng(2).integers(0, 256, (4, 64, 64), dtype=np.uint8)
    model = AutoModelForImageTextToText.from_pretrained(checkpoint("qwen3_vl")).eval()
    inputs = AutoImageProcessor.from_pretrained(checkpoint("qwen3_vl"))(images=[np.stack([im] * 3, -1) for im in images], return_tensors="pt")
    with torch.inference_mode():
        per_image = model.get_image_features(inputs["pixel_values"], inputs["image_grid_thw"]).pooler_output
    expected = np.stack([t.float().mean(0).numpy() for t in per_image])
    tower = VisionTower.load(checkpoint("qwen3_vl"), "cpu")
    assert tower.kind == "qwen" and tower.merge_size == 2
    np.testing.assert_allclose(extract(tower, images, batch_size=3, progress=False), expected, rtol=1e-5, atol=1e-6)


def test_packed_forward_does_not_grow_with_images_or_windows(tiny_model):
    """transformers' forward issues ops per image and per window; the packed one a fixed number."""
    packed, plain = VisionTower.load(str(tiny_model), "cpu"), VisionTower.load(str(tiny_model), "cpu", packed=False)
    images = np.random.default_rng(0).integers(0, 256, (32, 224, 224), dtype=np.uint8)
    few, many = packed.preprocess(images[:4]), packed.preprocess(images)
    packed.forward(few), packed.forward(many)  # geometry of both batch shapes now cached
    assert _ops(lambda: packed.forward(few)) == _ops(lambda: packed.forward(many))
    plain_few, plain_many = _ops(lambda: plain.forward(few)), _ops(lambda: plain.forward(many))
    assert plain_many > plain_few + 28 * 16  # at least 16 attention ops more per window...
    assert _ops(lambda: packed.forward(many)) * 5 < plain_many  # ...so 32 images cost it 5x the ops


def test_geometry_is_computed_once_per_batch_shape(tiny_model):
    tower = VisionTower.load(str(tiny_model), "cpu")
    grid = torch.tensor([[1, 4, 4]] * 3)
    first, again = tower.geometry.kwargs(grid), tower.geometry.kwargs(grid.clone())
    assert first["window_index"] is again["window_index"] and first is not again  # cached tensors, fresh dict (the tower pops it)
    assert first["max_seqlen"] == 16 and first["cu_seqlens"].tolist() == [0, 16, 32, 48]
    tower.geometry.kwargs(torch.tensor([[1, 4, 4]] * 2))
    assert len(tower.geometry._cache) == 2
    for n in range(3, 20):  # bounded: old batch shapes are dropped
        tower.geometry.kwargs(torch.tensor([[1, 4, 4]] * n))
    assert len(tower.geometry._cache) == 8


def test_other_towers_keep_transformers_forward(tiny_model):
    generic = VisionTower.load(str(tiny_model), "cpu", path="generic")
    assert generic.geometry is None
    qwen = VisionTower.load(str(tiny_model), "cpu", packed=False)
    qwen.encoder.config._attn_implementation = "flash_attention_2"  # a user's flash-attn stays in place
    assert enable_packed_forward(qwen.encoder, torch.device("cpu")) is not None
    assert qwen.encoder.config._attn_implementation == "flash_attention_2"
    assert enable_packed_forward(torch.nn.Linear(2, 2), torch.device("cpu")) is None


def test_probe_cli_plain_forward_gives_the_same_records(tmp_path, tiny_model, sample_root):
    import json

    from medbridge.harness.cli import main

    common = ["probe", "--model", str(tiny_model), "--tasks", "breast,blood", "--size", "28", "--head", "logreg", "--data-root", str(sample_root), "--no-cache", "--no-progress"]
    assert main([*common, "--output", str(tmp_path / "packed")]) == 0
    assert main([*common, "--output", str(tmp_path / "plain"), "--plain-forward"]) == 0
    for name in ("breast", "blood"):
        packed, plain = (json.loads((tmp_path / d / "records" / f"probe_medmnist_{name}.logreg_mean_28px.json").read_text()) for d in ("packed", "plain"))
        assert packed["metrics"] == plain["metrics"] and packed["per_doc"] == plain["per_doc"]
