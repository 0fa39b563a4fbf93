"""GPU correctness check for probe extraction (run by gpu_probe_check.sh): features of the tiny
checkpoint extracted on CUDA (side-stream processor, packed forward, pinned copies, events)
against the same extraction on the CPU and against transformers' own forward on CUDA.
Exit status 1 when they disagree."""

import sys
import tempfile
from pathlib import Path

import numpy as np


def main() -> int:
    device = sys.argv[1] if len(sys.argv) > 1 else "cuda"  # "cpu" only checks this script itself
    from medbridge.harness.probe.features import VisionTower, extract
    from medbridge.harness.tiny_model import build_tiny_qwen2_5_vl

    ckpt = str(build_tiny_qwen2_5_vl(Path(tempfile.mkdtemp()) / "tiny", teach_format=False))
    images = np.random.default_rng(0).integers(0, 256, (300, 224, 224), dtype=np.uint8)
    cpu = extract(VisionTower.load(ckpt, "cpu", "float32"), images, batch_size=64, progress=False)
    ok = True
    for dtype, tol in (("float32", 1e-3), ("bfloat16", 5e-2)):
        packed = extract(VisionTower.load(ckpt, device, dtype), images, batch_size=64, progress=False)
        plain = extract(VisionTower.load(ckpt, device, dtype, packed=False), images, batch_size=64, progress=False)
        scale = float(np.abs(cpu).max())
        vs_cpu, vs_plain = float(np.abs(packed - cpu).max()) / scale, float(np.abs(packed - plain).max()) / scale
        good = vs_cpu < tol and vs_plain < tol and np.isfinite(packed).all()
        ok &= good
        print(f"{device} {dtype}: max |packed - cpu| / max|cpu| = {vs_cpu:.2e}, max |packed - plain| / max|cpu| = {vs_plain:.2e}  ({'ok' if good else 'MISMATCH'} < {tol})")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
