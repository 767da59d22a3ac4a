#!/usr/bin/env bash
# Runs every benchmark and keeps the logs (the figures of RESULTS.md).
#
#   benchmarks/run_all.sh                 # smoke: every script with its tiny defaults (~2 min)
#   benchmarks/run_all.sh --full [LOGDIR] # the real measurement (~40 min on 2 cores, plus waits)
#
# With --full, before each script it waits (up to WAIT_MAX seconds, default
# 900) for the 1-minute load average to drop below MAX_LOAD (default 0.5):
# timings on a busy machine are not worth keeping. (The previous script's
# own load decays in a minute or two.) Each script prints the CPU model, the
# TensorFlow/Keras versions, and next to every figure the load average and
# the CPU share other processes used while it was measured.
# PYTHON defaults to the checkout's .venv (what .ci/run makes), else
# /work/venv, else python3.
# SKIP="name ..." skips runs whose log is already in LOGDIR (to finish an
# interrupted measurement), e.g. SKIP="compute_peak flops".
# BF16=auto (default) times the mixed_bfloat16 variants of --full only where
# bf16 is native (what mixed_precision=auto checks): on a CPU without bf16
# instructions it is emulated, and its training runs take about 10x longer
# than float32 while telling nothing new. BF16=yes times them anyway, BF16=no
# never does. The bf16 matmul/conv peak is always measured (it is cheap).
set -euo pipefail

cd "$(dirname "$0")"
FULL=""
if [[ "${1:-}" == "--full" ]]; then
  FULL="--full"
  shift
fi
# One log folder per machine (the latest run replaces the previous one):
# the CPU vendor and its widest bf16/vector extension name it.
machine_name() {
  local flags vendor
  flags="$(grep -m1 '^flags' /proc/cpuinfo 2>/dev/null || true)"
  case "$(grep -m1 '^vendor_id' /proc/cpuinfo 2>/dev/null)" in
    *AMD*) vendor=amd ;;
    *Intel*) vendor=intel ;;
    *) vendor=cpu ;;
  esac
  case "$flags" in
    *amx_bf16*) echo "${vendor}-amx" ;;
    *avx512_bf16*) echo "${vendor}-avx512bf16" ;;
    *avx2*) echo "${vendor}-avx2" ;;
    *) echo "${vendor}" ;;
  esac
}
LOGDIR="${1:-logs/$(machine_name)}"
if [[ -z "${PYTHON:-}" ]]; then
  for candidate in ../.venv/bin/python /work/venv/bin/python python3; do
    if command -v "$candidate" > /dev/null; then PYTHON="$candidate"; break; fi
  done
fi
MAX_LOAD="${MAX_LOAD:-0.5}"
WAIT_MAX="${WAIT_MAX:-900}"
export TF_CPP_MIN_LOG_LEVEL=2
mkdir -p "$LOGDIR"

BF16="${BF16:-auto}"
if [[ "$BF16" == "auto" ]]; then
  BF16_WHY=$("$PYTHON" -c "
import bench_common
from keras_geomatch.models import mixed_precision as m
native, why = m.native_bfloat16(m.detect_hardware())
print(('yes' if native else 'no') + ' ' + why)" 2>/dev/null | tail -n 1 || true)
  BF16_WHY="${BF16_WHY:-no (the check failed; set BF16=yes to time bf16 anyway)}"
  BF16="${BF16_WHY%% *}"
  echo "BF16=auto: ${BF16_WHY}"
fi
if [[ "$BF16" == "yes" ]]; then
  POLICIES=""  # each script's own --full default: float32 and mixed_bfloat16
else
  POLICIES="--policies float32"
fi

wait_for_quiet() {
  local waited=0 load
  while :; do
    load=$(cut -d' ' -f1 /proc/loadavg)
    if awk -v l="$load" -v m="$MAX_LOAD" 'BEGIN { exit !(l < m) }'; then
      echo "load $load < $MAX_LOAD: measuring"
      return
    fi
    if (( waited >= WAIT_MAX )); then
      echo "WARNING: load still $load after ${waited}s; measuring anyway (figures are noisy)"
      return
    fi
    sleep 30
    waited=$((waited + 30))
  done
}

run() {  # run NAME SCRIPT ARGS...
  local name="$1"
  shift
  if [[ " ${SKIP:-} " == *" $name "* ]]; then
    echo "== $name: skipped, keeping $LOGDIR/$name.txt"
    return
  fi
  [[ -n "$FULL" ]] && wait_for_quiet
  echo "== $name: $*"
  "$PYTHON" "$@" 2>&1 | grep -v -e "oneDNN custom operations" -e "absl::InitializeLog" \
    | tee "$LOGDIR/$name.txt"
}

run compute_peak compute_peak.py $FULL
PEAK_FP32=$(sed -n 's/^PEAK float32: \([0-9.]*\).*/\1/p' "$LOGDIR/compute_peak.txt")
PEAK_BF16=$(sed -n 's/^PEAK bfloat16: \([0-9.]*\).*/\1/p' "$LOGDIR/compute_peak.txt")
run flops flops.py $FULL
run inference_throughput inference_throughput.py $FULL $POLICIES --peak "$PEAK_FP32" "$PEAK_BF16"
if [[ -n "$FULL" ]]; then
  # Where the time goes (batch 16, full-size), and XLA for inference.
  # The fraction of peak with the peak timed in the same rounds, affine and TPS alternated.
  run inference_alternating inference_throughput.py --full --setting full-size \
    --batch-sizes 16 1 --policies float32 --peak-here 4096 --repeats 7
  run inference_parts inference_throughput.py --full --setting full-size --batch-sizes 16 \
    $POLICIES --parts --peak "$PEAK_FP32" "$PEAK_BF16"
  run inference_parts_warp_xla inference_throughput.py --full --setting full-size --batch-sizes 16 \
    $POLICIES --parts --warp-jit on --peak "$PEAK_FP32" "$PEAK_BF16"
  run inference_xla inference_throughput.py --full --models affine --jit on \
    $POLICIES --peak "$PEAK_FP32" "$PEAK_BF16"
fi
run training_step training_step.py $FULL $POLICIES
if [[ -n "$FULL" ]]; then
  run pipeline_throughput pipeline_throughput.py --source voc-like --cache no
  run pipeline_throughput_photos pipeline_throughput.py --source voc-like --cache no \
    --jpeg-size 4032x3024 --num-images 40 --models affine
  run pipeline_throughput_quickstart pipeline_throughput.py --setting quickstart
else
  run pipeline_throughput pipeline_throughput.py --source voc-like --num-images 4 --models affine \
    --image-size 96 --warmup-batches 1 --windows 1 --window-batches 1 --batch-size 2
fi
run pipeline_vs_cached pipeline_vs_cached.py $FULL
if [[ -n "$FULL" && "$BF16" == "yes" ]]; then
  run pipeline_vs_cached_bf16 pipeline_vs_cached.py --full --policy mixed_bfloat16
fi
run evaluation_cache evaluation_cache.py $FULL
if [[ -n "$FULL" ]]; then
  # --full times 3 runs of each; one without the cache is 1800 VGG-16 passes.
  run evaluation_cache_vgg16 evaluation_cache.py --full --setting full-size --repeats-no-cache 1
fi
if [[ -z "$FULL" || "$BF16" == "yes" ]]; then
  run mixed_precision_accuracy mixed_precision_accuracy.py $FULL
fi
echo "logs in benchmarks/$LOGDIR"
