#!/usr/bin/env bash
# GPU check for probe extraction speed (issue: pipeline >= 0.8 of a bare tower forward).
# Prints, per size, the pipeline against the bare (packed) forward and transformers' own
# forward of the same tower, for a random tower of Qwen2.5-VL-7B's vision shape (bf16) and
# the tiny checkpoint, after checking that CUDA features match CPU and transformers' own forward.
# Needs a CUDA GPU and an importable medbridge; no network, no weights.
#
#   scripts/gpu_probe_check.sh            # ~3 min on an H200
set -euo pipefail
cd "$(dirname "$0")/.."
if ! python -c "import medbridge.harness.probe.features" 2>/dev/null; then
    # Not installed (a bare GPU image): the probe path needs only torch + transformers, so map
    # the source folders to the package name the way pyproject's package-dir does.
    shim=$(mktemp -d)
    mkdir -p "$shim/medbridge" && touch "$shim/medbridge/__init__.py"
    ln -s "$PWD/harness" "$shim/medbridge/harness" && ln -s "$PWD/tasks" "$shim/medbridge/tasks"
    export PYTHONPATH="$shim${PYTHONPATH:+:$PYTHONPATH}"
fi
python -c "import transformers; from transformers import vision_utils, AttentionInterface; print('transformers', transformers.__version__, '(packed forward available)')" \
    || echo "transformers here lacks vision_utils/AttentionInterface: the packed forward falls back to transformers' own (carry transformers>=5.24)"
python -c "import torch; assert torch.cuda.is_available(), 'no CUDA device'; print('GPU:', torch.cuda.get_device_name(0), 'torch', torch.__version__)"
python scripts/gpu_probe_features_check.py
python benchmarks/probe_speed.py --device cuda --tower qwen2.5-vl-7b-shape --n 1024 --batch-size 128 --fit-n 0
python benchmarks/probe_speed.py --device cuda --tower qwen2.5-vl-7b-shape --size 28 --n 4096 --batch-size 512 --fit-n 0
python benchmarks/probe_speed.py --device cuda --n 2048 --batch-size 256 --fit-n 0
