#!/usr/bin/env bash
# GPU check for the fast Pass@K backends: runs the real vLLM backend (and medbridge_hf on CUDA
# for comparison) on a small real model and a real MedMNIST task, then prints both results.
# Needs: a CUDA GPU, `pip install -e ".[vllm]"`, the model (hub or local path) and MedMNIST
# data (downloaded with `medbridge data download breast --size 224` when online).
#
#   MODEL=Qwen/Qwen2-VL-2B-Instruct MEDMNIST_ROOT=~/.medmnist scripts/gpu_check.sh
set -euo pipefail

MODEL=${MODEL:-Qwen/Qwen2-VL-2B-Instruct}
TASKS=${TASKS:-medmnist_breast_passk}
LIMIT=${LIMIT:-16}
OUT=${OUT:-gpu-check}
export MEDMNIST_SIZE=${MEDMNIST_SIZE:-224}

python -c "import torch; assert torch.cuda.is_available(), 'no CUDA device'; print('GPU:', torch.cuda.get_device_name(0))"
python -c "import vllm; print('vLLM', vllm.__version__)"
medbridge data check "${TASKS%%_passk}" --size "$MEDMNIST_SIZE"

common=(--tasks "$TASKS" --limit "$LIMIT" --gen_kwargs max_new_tokens=512 --log_samples)
time lmms-eval --model medbridge_vllm --model_args "pretrained=$MODEL,max_model_len=8192,cache=off" "${common[@]}" --output_path "$OUT/vllm"
time lmms-eval --model medbridge_hf --model_args "pretrained=$MODEL,dtype=bfloat16,cache=off" --device cuda "${common[@]}" --output_path "$OUT/hf"

python - "$OUT" <<'PY'
import glob, json, sys
for backend in ("vllm", "hf"):
    [path] = glob.glob(f"{sys.argv[1]}/{backend}/*/*_results.json")
    for task, row in json.load(open(path))["results"].items():
        keys = sorted(k for k in row if k.startswith(("pass@", "no_answer")) and "stderr" not in k)
        print(backend, task, {k: round(row[k], 4) for k in keys})
PY
