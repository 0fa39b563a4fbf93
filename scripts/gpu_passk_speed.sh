#!/usr/bin/env bash
# Pass@K speed on a GPU with a 7B-shaped model, so the ratios are not only per-call Python
# overhead on a 2-layer toy: benchmarks/passk_speed.py builds Qwen2.5-VL-7B's widths
# (text 3584/18944, 28 heads, 152064 vocabulary; vision 1280) with random weights and LAYERS
# layers, makes its end-of-sequence id unreachable, and runs every arm on the same questions
# (bfloat16, SDPA, same pixel bounds), interleaved and repeated. Needs a CUDA GPU and medbridge
# installed (`pip install -e ".[dev]"`); no network, no data (a generated sample is written).
#
#   scripts/gpu_passk_speed.sh                       # LAYERS=4 QUESTIONS=16 MAX_NEW=128 SIZE=224
#   MODEL=/ckpt/Qwen2.5-VL-7B-Instruct scripts/gpu_passk_speed.sh   # a real checkpoint instead
set -euo pipefail
cd "$(dirname "$0")/.."

LAYERS=${LAYERS:-4}
QUESTIONS=${QUESTIONS:-16}
MAX_NEW=${MAX_NEW:-128}
SIZE=${SIZE:-224}
THREADS=${THREADS:-4}
REPEATS=${REPEATS:-3}

python -c "import torch; assert torch.cuda.is_available(), 'no CUDA device'; print('GPU:', torch.cuda.get_device_name(0))"
model=()
if [[ -n "${MODEL:-}" ]]; then model=(--model "$MODEL"); fi
python benchmarks/passk_speed.py --shape qwen2.5-vl-7b --layers "$LAYERS" "${model[@]}" --device cuda --threads "$THREADS" \
  --questions "$QUESTIONS" --max-new-tokens "$MAX_NEW" --size "$SIZE" --repeats "$REPEATS" "$@"
