#!/usr/bin/env bash
# GRPO-CARE and SFT step time on a GPU against bare TRL, bf16, on a model of realistic shape:
# Qwen2.5-VL-7B's widths (text 3584/18944, 152064 vocabulary; vision 1280) with random weights
# and LAYERS layers (built by benchmarks/_bench_checkpoints.py's build_7b_shaped), then
# benchmarks/training_speed.py prints step seconds, peak GPU memory per arm and the ratios
# (CARE / vanilla TRL GRPO, target <= 1.3). Needs a CUDA GPU and `pip install -e ".[dev,train]"`;
# no network, no data (a generated MedMNIST-format sample is written).
#
#   scripts/gpu_training_speed.sh                    # LAYERS=4 STEPS=6 LENGTH=128 REPEATS=3
#   MODEL=/ckpt/Qwen2.5-VL-7B-Instruct scripts/gpu_training_speed.sh   # a real checkpoint instead
set -euo pipefail
cd "$(dirname "$0")/.."

LAYERS=${LAYERS:-4}
STEPS=${STEPS:-6}
LENGTH=${LENGTH:-128}
REPEATS=${REPEATS:-3}

python -c "import torch; assert torch.cuda.is_available(), 'no CUDA device'; print('GPU:', torch.cuda.get_device_name(0))"
if [[ -z "${MODEL:-}" ]]; then
  MODEL=$(mktemp -d)/qwen2.5-vl-7b-shape
  python -c "import sys; sys.path.insert(0, 'benchmarks'); from pathlib import Path; from _bench_checkpoints import build_7b_shaped; build_7b_shaped(Path('$MODEL'), $LAYERS)"
fi
python benchmarks/training_speed.py --model "$MODEL" --set bf16=true --steps "$STEPS" --length "$LENGTH" --repeats "$REPEATS" --threads 4 "$@"
