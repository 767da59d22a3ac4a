#!/usr/bin/env bash
# oneDNN on vs off (TF's default on this AVX2-only CPU), alternated in fresh
# processes three times so that a drift of the machine's speed hits both.
# Run from benchmarks/:  bash logs/zen3-20261201/onednn_ab.sh
set -uo pipefail
cd "$(dirname "$0")/../.."
L=logs/zen3-20261201/onednn_ab.txt
P="${PYTHON:-../.venv/bin/python}"
export TF_CPP_MIN_LOG_LEVEL=2
: > "$L"
for round in 1 2 3; do
  for onednn in 1 0; do
    for cmd in "inference_throughput.py --full --setting full-size --models affine --batch-sizes 1 16 --policies float32 --repeats 3" \
               "training_step.py --full --setting quickstart --policies float32 --jit off --steps 6" \
               "training_step.py --full --setting full-size --policies float32 --jit off --steps 3"; do
      TF_ENABLE_ONEDNN_OPTS=$onednn $P $cmd 2>&1 | grep RESULT | sed "s/^/round=$round onednn=$onednn /" | tee -a "$L"
    done
  done
done
