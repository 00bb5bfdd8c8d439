#!/usr/bin/env bash
# Reproduces docs/results/: the shipped default model and the Fourier baseline evaluated on a
# held-out synthetic set (seed 777: never used by the training recipe, whose training seed is
# 2026 and validation seed 424242), plus the montage linked from the README.
#   bash docs/make_default_model_results.sh
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${FRINGE_BUILD_DIR:-build}
WORK=${FRINGE_RESULTS_WORK:-$(mktemp -d)}
OUT=docs/results
mkdir -p "$OUT"

# 1. Held-out data: 80 frames of 512x512 over 50-1000 e/A^2 (the issue's target range).
"$BIN/sim/fringe-sim" --out "$WORK/heldout" --count 80 --seed 777 --size 512 --dose 50:1000 \
  --threads 2 --quiet --overwrite
# A low-dose set below that range, to show where the model stops working.
"$BIN/sim/fringe-sim" --out "$WORK/lowdose" --count 30 --seed 778 --size 512 --dose 20:50 \
  --threads 2 --quiet --overwrite

# 2. A server holding both models.
"$BIN/server/fringe-server" --listen 127.0.0.1:0 --port-file "$WORK/port" \
  --repository models/repository --log-level warn > "$WORK/server.log" 2>&1 &
SERVER=$!
trap 'kill -TERM $SERVER 2>/dev/null; wait $SERVER 2>/dev/null || true' EXIT
for _ in $(seq 1 600); do [ -s "$WORK/port" ] && break; sleep 0.1; done
ADDR=127.0.0.1:$(cat "$WORK/port")
for _ in $(seq 1 600); do "$BIN/client/fringe" --server "$ADDR" health >/dev/null 2>&1 && break; sleep 0.1; done

# 3. Evaluations.
for model in default fourier-bandpass; do
  mkdir -p "$OUT/$model" "$OUT/$model-lowdose" "$OUT/$model-real-msa-em"
  "$BIN/client/fringe" --server "$ADDR" eval --data "$WORK/heldout" --model "$model" \
    --out "$OUT/$model" --quiet | tee "$OUT/$model/summary.txt"
  "$BIN/client/fringe" --server "$ADDR" eval --data "$WORK/lowdose" --model "$model" \
    --out "$OUT/$model-lowdose" --quiet | tee "$OUT/$model-lowdose/summary.txt"
done

# Real hand-labelled TEM images (shared/microscopy-samples, see its PROVENANCE.md): bright-field
# TEM of sintering nanoparticles at an unknown, much coarser scale than HRTEM: a domain-gap check.
REAL=../shared/microscopy-samples/labelled/msa-em_microscopy-seg-track
if [ -d "$REAL" ]; then
  for model in default fourier-bandpass; do
    "$BIN/client/fringe" --server "$ADDR" eval --data "$REAL" --model "$model" \
      --out "$OUT/$model-real-msa-em" --quiet | tee "$OUT/$model-real-msa-em/summary.txt"
  done
fi

# 4. Montage: the lowest-, a middle- and the highest-dose held-out frame.
python3 - "$WORK/heldout/manifest.json" > "$WORK/picks" <<'PY'
import json, sys
items = json.load(open(sys.argv[1]))["items"]
by_dose = sorted(items, key=lambda s: items[s]["dose_e_per_A2"])
for stem in (by_dose[0], by_dose[len(by_dose) // 2], by_dose[-1]):
    print(stem, round(items[stem]["dose_e_per_A2"]))
PY
ROWS=()
while read -r stem dose; do
  "$BIN/client/fringe" --server "$ADDR" segment "$WORK/heldout/images/$stem.tif" \
    --out "$WORK/segmented" > /dev/null
  ROWS+=(--row "$WORK/heldout/images/$stem.tif,$WORK/segmented/${stem}_mask.png,$WORK/heldout/masks/$stem.png")
done < "$WORK/picks"
"$BIN/tools/fringe-montage" "${ROWS[@]}" --out docs/montage.png --width 300
echo "doses in the montage (top to bottom): $(awk '{print $2}' "$WORK/picks" | paste -sd, -) e/A^2"
