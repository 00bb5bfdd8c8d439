#!/usr/bin/env bash
# Installs what is missing, builds, starts fringe-server on the shipped default model,
# segments synthetic HRTEM sample images with the `fringe` CLI and stops the server.
set -euo pipefail
cd "$(dirname "$0")/.."
bash deploy/install-deps.sh
bash deploy/build.sh
BIN=${FRINGE_BUILD_DIR:-build}
OUT=${FRINGE_DEMO_OUT:-$PWD/demo-output}
mkdir -p "$OUT"

# Sample frames: the simulator writes noisy gold-on-carbon images with ground-truth masks.
# At one known pixel size, which the fringe CLI passes on (TIFFs from fringe-sim carry no
# calibration; the data set's manifest.json does, and `fringe eval` reads it from there).
PIXEL_NM=0.0225
"$BIN/sim/fringe-sim" --out "$OUT/samples" --count 2 --seed 2026 --size 512 \
  --pixel-size "$PIXEL_NM:$PIXEL_NM" --overwrite >/dev/null

# A port file left by an earlier run would point at a server that is gone.
rm -f "$OUT/server.port" "$OUT/metrics.port"
"$BIN/server/fringe-server" --listen 127.0.0.1:0 --port-file "$OUT/server.port" \
  --metrics-listen 127.0.0.1:0 --metrics-port-file "$OUT/metrics.port" --state-dir "$OUT/state" \
  --repository models/repository > "$OUT/server.log" 2>&1 &
SERVER_PID=$!
trap 'kill -TERM $SERVER_PID 2>/dev/null; wait $SERVER_PID 2>/dev/null || true' EXIT

for _ in $(seq 1 600); do
  [ -s "$OUT/server.port" ] && break
  kill -0 $SERVER_PID 2>/dev/null || { cat "$OUT/server.log"; exit 1; }
  sleep 0.1
done
ADDR="127.0.0.1:$(cat "$OUT/server.port")"
for _ in $(seq 1 600); do
  "$BIN/client/fringe" --server "$ADDR" health >/dev/null 2>&1 && break
  kill -0 $SERVER_PID 2>/dev/null || { cat "$OUT/server.log"; exit 1; }
  sleep 0.1
done

echo "== fringe models"
"$BIN/client/fringe" --server "$ADDR" models
echo "== fringe segment"
"$BIN/client/fringe" --server "$ADDR" segment "$OUT"/samples/images/*.tif --out "$OUT/masks" \
  --pixel-size-nm "$PIXEL_NM"
echo "Ground-truth masks for comparison: $OUT/samples/masks/"
echo "== fringe eval (the same frames against their ground truth)"
"$BIN/client/fringe" --server "$ADDR" eval --data "$OUT/samples" --quiet 2>/dev/null
echo "== fringe explain (LRP: which pixels made the model call the first frame's particles)"
FIRST=$(ls "$OUT"/samples/images/*.tif | head -1)
"$BIN/client/fringe" --server "$ADDR" explain "$FIRST" --out "$OUT/explain" --pixel-size-nm "$PIXEL_NM"
echo "Server log: $OUT/server.log"
