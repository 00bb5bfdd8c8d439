#!/usr/bin/env bash
# Short end-to-end check of a CUDA build (after deploy/cuda/build-on-device.sh): serves the
# shipped default model on cuda:0 and on the CPU, evaluates the same simulated labelled frames
# on both (Dice must agree, the GPU process must hold GPU memory), segments a large frame and
# explains one on the GPU server, then runs the unit tests that were built.
#
#   deploy/cuda/gpu-check.sh           (needs: fringe-server fringe fringe-sim; tests optional)
#
# FRINGE_BUILD_DIR (build-cuda), FRINGE_GPU_CHECK_IMAGES (12), FRINGE_GPU_CHECK_TESTS (1: run
# `ctest -L unit` over the test binaries that exist), FRINGE_GPU_CHECK_DEVICE (cuda:0; cpu
# rehearses the script on a machine without a GPU).
set -uo pipefail
cd "$(dirname "$0")/../.."
B=${FRINGE_BUILD_DIR:-build-cuda}
N=${FRINGE_GPU_CHECK_IMAGES:-12}
DEV=${FRINGE_GPU_CHECK_DEVICE:-cuda:0}
T=$(mktemp -d /tmp/fringe-gpu-check.XXXXXX)
FAIL=0
say() { echo "gpu-check: $*"; }
bad() {
  echo "gpu-check: FAIL: $*"
  FAIL=1
}
SERVER=$B/server/fringe-server CLI=$B/client/fringe SIM=$B/sim/fringe-sim
for f in "$SERVER" "$CLI" "$SIM"; do
  [ -x "$f" ] || { echo "gpu-check: $f is not built" >&2; exit 1; }
done
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null; done
  wait 2>/dev/null
}
trap cleanup EXIT

command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,driver_version,memory.used,memory.total --format=csv,noheader

# Simulated labelled frames (512 px) and one large frame.
"$SIM" --out "$T/data" --count "$N" --size 512 --seed 4242 --threads "$(nproc)" > "$T/sim.log" 2>&1 ||
  { cat "$T/sim.log"; bad "fringe-sim failed"; exit 1; }
"$SIM" --out "$T/big" --count 1 --size 2048 --seed 77 --threads "$(nproc)" > "$T/sim-big.log" 2>&1 ||
  { cat "$T/sim-big.log"; bad "fringe-sim (2048 px) failed"; exit 1; }

start() {  # start NAME DEVICE: a server on a free port; sets PORT_<NAME>
  local name=$1 device=$2
  "$SERVER" --listen 127.0.0.1:0 --repository models/repository --device "$device" \
    --state-dir "$T/state-$name" --metrics-listen off --port-file "$T/$name.port" \
    --repository-poll-seconds -1 > "$T/$name.log" 2>&1 &
  PIDS+=($!)
  eval "PID_$name=$!"
  for _ in $(seq 1 600); do
    [ -s "$T/$name.port" ] && break
    kill -0 "$!" 2>/dev/null || break
    sleep 0.1
  done
  [ -s "$T/$name.port" ] || { tail -20 "$T/$name.log"; bad "$name server did not start"; return 1; }
  eval "PORT_$name=$(cat "$T/$name.port")"
  # Models load after the port is open: wait for the default model.
  for _ in $(seq 1 300); do
    "$CLI" --server "127.0.0.1:$(cat "$T/$name.port")" --timeout 5 models default 2>/dev/null |
      grep -q READY && return 0
    kill -0 "$(eval echo "\$PID_$name")" 2>/dev/null || break
    sleep 0.2
  done
  tail -20 "$T/$name.log"
  bad "$name server: the default model did not become READY"
  return 1
}

start cpu cpu || exit 1
start gpu "$DEV" || { say "server log:"; tail -40 "$T/gpu.log"; exit 1; }
say "servers: cpu on $PORT_cpu, $DEV on $PORT_gpu"

ev() {  # ev NAME OUTDIR
  "$CLI" --server "127.0.0.1:$(eval echo "\$PORT_$1")" eval --data "$T/data" --out "$2" --quiet
}
ev cpu "$T/eval-cpu" > "$T/eval-cpu.txt" 2>&1 || { cat "$T/eval-cpu.txt"; bad "eval on cpu"; }
ev gpu "$T/eval-gpu-warm" > /dev/null 2>&1  # warm-up: CUDA context, cuDNN autotuning
ev gpu "$T/eval-gpu" > "$T/eval-gpu.txt" 2>&1 || { cat "$T/eval-gpu.txt"; bad "eval on $DEV"; }
if [ "$DEV" != cpu ] && command -v nvidia-smi >/dev/null; then
  used=$(nvidia-smi --query-compute-apps=pid,used_memory --format=csv,noheader | grep -E "^ *$PID_gpu," || true)
  if [ -n "$used" ]; then say "GPU server process on the GPU: $used"; else bad "the $DEV server holds no GPU memory"; fi
fi
python3 - "$T/eval-cpu/eval_summary.json" "$T/eval-gpu/eval_summary.json" "$DEV" <<'EOF' || FAIL=1
import json, sys
cpu, gpu = (json.load(open(p))["mean"] for p in sys.argv[1:3])
dev = sys.argv[3]
print("gpu-check: mean Dice cpu %.5f, %s %.5f; server compute per 512 px frame: cpu %.1f ms,"
      " %s %.1f ms" % (cpu["dice"], dev, gpu["dice"], cpu["compute_ms"], dev, gpu["compute_ms"]))
if not abs(cpu["dice"] - gpu["dice"]) <= 2e-3:
    print("gpu-check: FAIL: mean Dice differs between cpu and " + dev)
    sys.exit(1)
EOF

BIG=$(ls "$T"/big/images/*.tif | head -1)
t0=$(date +%s.%N)
"$CLI" --server "127.0.0.1:$PORT_gpu" segment "$BIG" --out "$T/seg-gpu" --probabilities > "$T/seg-gpu.txt" 2>&1 ||
  { cat "$T/seg-gpu.txt"; bad "segment 2048 px on $DEV"; }
t1=$(date +%s.%N)
"$CLI" --server "127.0.0.1:$PORT_cpu" segment "$BIG" --out "$T/seg-cpu" > "$T/seg-cpu.txt" 2>&1 ||
  { cat "$T/seg-cpu.txt"; bad "segment 2048 px on cpu"; }
t2=$(date +%s.%N)
say "2048x2048 frame (wall, incl. transfer): $DEV $(python3 -c "print(round($t1-$t0,2))") s," \
  "cpu $(python3 -c "print(round($t2-$t1,2))") s"
stem=$(basename "$BIG" .tif)
if cmp -s "$T/seg-gpu/${stem}_mask.png" "$T/seg-cpu/${stem}_mask.png"; then
  say "2048 px masks: $DEV and cpu identical"
else
  say "2048 px masks differ between $DEV and cpu (a few boundary pixels are expected)"
fi
FIRST=$(ls "$T"/data/images/*.tif | head -1)
"$CLI" --server "127.0.0.1:$PORT_gpu" explain "$FIRST" --out "$T/explain" > "$T/explain.txt" 2>&1 ||
  { cat "$T/explain.txt"; bad "explain on the $DEV server"; }
sed 's/^/  /' "$T/explain.txt"
grep -iE 'error|cuda|device' "$T/gpu.log" | head -5 | sed 's/^/  gpu server log: /'

if [ "${FRINGE_GPU_CHECK_TESTS:-1}" = 1 ] && [ -f "$B/CTestTestfile.cmake" ]; then
  say "unit tests (CPU code paths, CUDA-linked binaries)"
  (cd "$B" && ctest -L unit -E '_NOT_BUILT' -j "$(nproc)" --timeout 300 --output-on-failure 2>&1 | tail -25) |
    tee "$T/ctest.txt"
  grep -q "100% tests passed" "$T/ctest.txt" || bad "unit tests"
fi
if [ -n "${OUT:-}" ] && [ -d "${OUT:-}" ]; then  # the lent GPU machine sends $OUT back
  mkdir -p "$OUT/gpu-check"
  cp "$T"/*.log "$T"/*.txt "$OUT/gpu-check/" 2>/dev/null
  for d in "$T"/eval-cpu "$T"/eval-gpu; do cp "$d/eval_summary.json" "$OUT/gpu-check/$(basename "$d").json" 2>/dev/null; done
fi
if [ "$FAIL" = 0 ]; then say "OK (work dir $T)"; else say "FAILED (logs in $T)"; fi
exit "$FAIL"
