#!/usr/bin/env bash
# One prepared GPU check (about 8 minutes on one H100): training speed at the paper's sizes (both
# layouts, eager and compiled, bf16), in-context evaluation speed with 100 envs (KV cache against
# the sliding-window recompute), and a short paper-size `icrl run bandit` (time to quality).
# Writes JSON lines and logs under $OUT (default ./gpu-check).
#
#     bash benchmarks/gpu_check.sh
set -uo pipefail
out=${OUT:-gpu-check}
mkdir -p "$out"
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
python3 - <<'PY' 2>&1 | tee "$out/device.txt"
import torch
print(torch.__version__, torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no CUDA device")
PY
timeout 240 python3 benchmarks/train.py --device cuda --compile --steps 30 --warmup 5 2>&1 | tee "$out/train.jsonl"
timeout 120 python3 benchmarks/inference.py --device cuda --envs 100 2>&1 | tee "$out/inference.jsonl"
# time to quality: the paper-size model, compact layout, a short schedule (steps from $STEPS)
( time timeout 150 python3 -m icrl run bandit --run-dir "$out/bandit" --set model.layout=compact \
    --set train.num_steps="${STEPS:-4000}" --set train.eval_every=0 --set train.checkpoint_every=100000 ) 2>&1 \
  | grep -v "it/s\]" | tail -25 | tee "$out/run-bandit.txt"
