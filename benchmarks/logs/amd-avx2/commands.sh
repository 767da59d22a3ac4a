#!/usr/bin/env bash
# The measurement of 2026-12-01 on a 2-core AMD EPYC (Zen 3, AVX2 only: no
# AVX-512, no bf16 instructions). It is run_all.sh --full without most bf16
# runs: bf16 is emulated on this CPU (about 10x slower to train; one
# inference and one training figure show it), and `auto` picks float32 here.
# With oneDNN on, as the package sets it. "onednn0" runs use
# TF_ENABLE_ONEDNN_OPTS=0, which was TensorFlow's default on this CPU.
# Run from benchmarks/:  bash logs/zen3-20261201/commands.sh
set -uo pipefail
cd "$(dirname "$0")/../.."
L=logs/zen3-20261201
P="${PYTHON:-../.venv/bin/python}"
export TF_CPP_MIN_LOG_LEVEL=2
run() { local name="$1"; shift; echo "== $name: $*"; "$@" 2>&1 | grep -v -e "oneDNN custom operations" -e "absl::InitializeLog" > "$L/$name.txt"; tail -n 3 "$L/$name.txt"; }
run compute_peak $P compute_peak.py --full
run compute_peak_onednn0 env TF_ENABLE_ONEDNN_OPTS=0 $P compute_peak.py --full --dtypes float32
F32=$(sed -n 's/^PEAK float32: \([0-9.]*\).*/\1/p' $L/compute_peak.txt)
B16=$(sed -n 's/^PEAK bfloat16: \([0-9.]*\).*/\1/p' $L/compute_peak.txt)
run flops $P flops.py --full
run inference_throughput $P inference_throughput.py --full --policies float32 --peak $F32 $B16
run inference_bf16 $P inference_throughput.py --full --setting full-size --models affine --batch-sizes 16 --policies mixed_bfloat16 --peak $F32 $B16
run inference_onednn0 env TF_ENABLE_ONEDNN_OPTS=0 $P inference_throughput.py --full --setting full-size --models affine --batch-sizes 1 16 --policies float32 --peak $F32 $B16
run inference_parts $P inference_throughput.py --full --setting full-size --batch-sizes 16 --policies float32 --parts --warp-jit on --peak $F32 $B16
run inference_xla $P inference_throughput.py --full --models affine --policies float32 --jit on --peak $F32 $B16
run training_step $P training_step.py --full --policies float32 --jit off on
run training_step_bf16 $P training_step.py --full --setting quickstart --policies mixed_bfloat16 --jit off on --steps 4
run training_step_onednn0 env TF_ENABLE_ONEDNN_OPTS=0 $P training_step.py --full --policies float32 --jit off
run pipeline_throughput $P pipeline_throughput.py --source voc-like --cache no
run pipeline_throughput_quickstart $P pipeline_throughput.py --image-size 96 --models affine
run pipeline_vs_cached $P pipeline_vs_cached.py --full
run evaluation_cache $P evaluation_cache.py --full
# Stopped after its feature-cache-on figure: --full times 3 runs of each, and
# one run without the cache is 1800 VGG-16 passes (over 10 min here).
run evaluation_cache_vgg16 $P evaluation_cache.py --full --setting full-size --repeats 1
echo "logs in benchmarks/$L"

# --- later the same day (zen3-20261201b) ---
#!/usr/bin/env bash
# Runs of 2026-12-01 (second session) on the 2-core AMD EPYC Zen 3 VM, oneDNN on.
# Run from benchmarks/. OLD is a checkout of the code before the reduced JPEG
# decode (git worktree add /tmp/ab_old 35367d7~1) with the new
# pipeline_throughput.py copied in, so both versions take the same options.
set -uo pipefail
P="${PYTHON:-../.venv/bin/python}"
L=logs/zen3-20261201b
OLD=/tmp/ab_old
export TF_CPP_MIN_LOG_LEVEL=2
$P inference_throughput.py --full --setting full-size --batch-sizes 16 1 --policies float32 \
  --peak-here 4096 --repeats 7 > $L/inference_alternating.txt 2>&1
for round in 1 2; do for tree in $OLD ..; do for size in 4032x3024 1920x1080; do
  echo "== $tree $size round $round"
  $P $tree/benchmarks/pipeline_throughput.py --source voc-like --jpeg-size $size --num-images 24 \
    --cache no --models affine --windows 3 --window-batches 4 --warmup-batches 2 2>&1 | grep pairs/s
done; done; done > $L/pipeline_big_jpeg_ab.txt
for round in 1 2; do for tree in $OLD ..; do
  echo "== $tree 500x375 round $round"
  $P $tree/benchmarks/pipeline_throughput.py --source voc-like --cache no --models affine \
    --num-images 100 2>&1 | grep pairs/s
done; done > $L/pipeline_voc_ab.txt
$P pipeline_throughput.py --setting quickstart > $L/pipeline_throughput_quickstart.txt 2>&1
 evaluation_cache.py --full --setting full-size --repeats 1 --repeats-no-cache 1 > $L/evaluation_cache_vgg16.txt 2>&1

# --- later the same day (zen3-20261201c) ---
#!/bin/bash
# The synthetic-pair pipeline before (3179635, checked out in /tmp/old) and
# after (47b28fe) the warp changes, alternated twice on the same machine.
# Run from the repository root; PYTHON is the checkout's venv.
PYTHON=${PYTHON:-.venv/bin/python}
OUT=benchmarks/logs/zen3-20261201c
for round in 1 2; do
  for tree in /tmp/old .; do
    label=$([ "$tree" = . ] && echo new || echo old)
    {
      echo "### round $round, $label code ($tree)"
      $PYTHON $tree/benchmarks/pipeline_throughput.py --source voc-like --cache yes --num-images 40
      $PYTHON $tree/benchmarks/pipeline_throughput.py --source voc-like --cache no --num-images 100
      $PYTHON $tree/benchmarks/pipeline_throughput.py --setting quickstart
    } 2>&1 | grep -v -E "^(WARNING|I0000|E0000|W0000)|cpu_feature_guard|rebuild TensorFlow" >> $OUT/pipeline_ab.txt
  done
done
