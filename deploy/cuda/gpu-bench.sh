#!/usr/bin/env bash
# GPU numbers after deploy/cuda/build-on-device.sh (and gpu-check.sh): the lab-server
# benchmark (live stream idle / while a training job trains / under a batch flood, training
# alone vs shared) and the serving benchmark, each on cuda:0 and on the CPU of the same
# machine, plus a short fringe-train run on each device. JSON and logs go to $OUT (the lent
# machine sends it back) or to bench-gpu/.
#   deploy/cuda/gpu-bench.sh
set -uo pipefail
cd "$(dirname "$0")/../.."
B=${FRINGE_BUILD_DIR:-build-cuda}
DEV=${FRINGE_GPU_CHECK_DEVICE:-cuda:0}
O=${OUT:-bench-gpu}
mkdir -p "$O"
CPU_THREADS=${FRINGE_CPU_THREADS:-8}
run() {  # run LABEL COMMAND...: prints and keeps the output in $O/LABEL.txt
  local label=$1
  echo "== $label"
  shift
  "$@" 2>&1 | tee "$O/$label.txt" | tail -22
}
[ -x "$B/bench/lab_bench" ] && {
  run lab-gpu "$B/bench/lab_bench" --server-bin "$B/server/fringe-server" --device "$DEV" \
    --threads "$CPU_THREADS" --json "$O/lab-gpu.json"
}
[ -x "$B/bench/serving_bench" ] && {
  run serving-gpu "$B/bench/serving_bench" --server-bin "$B/server/fringe-server" --device "$DEV" \
    --threads "$CPU_THREADS" --json "$O/serving-gpu.json"
  run serving-cpu "$B/bench/serving_bench" --server-bin "$B/server/fringe-server" --device cpu \
    --threads "$CPU_THREADS" --json "$O/serving-cpu.json"
}
[ -x "$B/train/fringe-train" ] && for d in "$DEV" cpu; do
  sed -e 's/^steps: .*/steps: 60/' -e 's/^validate_every: .*/validate_every: 60/' \
    -e 's/^validation_images: .*/validation_images: 4/' -e "s/^threads: .*/threads: $CPU_THREADS/" \
    -e 's/^max_minutes: .*//' models/recipes/default_unet.pbtxt > /tmp/gpu-train.pbtxt
  rm -rf /tmp/gpu-train-out
  /usr/bin/time -f "%e s wall" "$B/train/fringe-train" train --config /tmp/gpu-train.pbtxt \
    --output-repository /tmp/gpu-train-out --device "$d" 2>&1 | tail -3 | sed "s/^/train $d: /" |
    tee -a "$O/train.txt"
done
# Less important, last (a run cut short by its time limit still returns what came before).
[ -x "$B/bench/lab_bench" ] && {
  run lab-cpu "$B/bench/lab_bench" --server-bin "$B/server/fringe-server" --device cpu \
    --threads "$CPU_THREADS" --json "$O/lab-cpu.json"
  run lab-gpu-tile512 "$B/bench/lab_bench" --server-bin "$B/server/fringe-server" --device "$DEV" \
    --threads "$CPU_THREADS" --tile 512 --train-tile 256 --batch 6 --micro-batch 2 \
    --json "$O/lab-gpu-tile512.json"
}
ls "$O"
