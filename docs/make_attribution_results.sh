#!/usr/bin/env bash
# Reproduces docs/results/attribution/ (issue 6): `fringe analyze` on the shipped default model
# (models/repository/default/1) over held-out simulated frames (fringe-sim seed 777, never used
# by the training recipe, whose training seed is 2026 and validation seed 424242):
#   deletion/                  deletion/insertion curves and AUCs of six methods + random
#   deletion-blur-reference/   the same check with blurred instead of flat deleted patches
#   spectrum/                  LRP relevance spectrum vs the input's, Au {111}/{200} marked
#   filters/                   first-layer filters and their spectra
#   blur/                      Dice vs Gaussian blur of the input (Horwath et al. 2019)
#   logits/                    per-class logit maps of one frame
#   memory.json, memory.txt    resident set size over 1,000 LRP explains (attribution_bench)
# Idempotent: every output is rewritten. About 15-20 minutes on 2 busy cores (the deletion
# study is ~90% of it).
#   bash docs/make_attribution_results.sh      (after bash deploy/build.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${FRINGE_BUILD_DIR:-build}
WORK=${FRINGE_RESULTS_WORK:-$(mktemp -d)}
THREADS=${FRINGE_THREADS:-2}
OUT=docs/results/attribution
FRINGE="$BIN/client/fringe"
MODEL=(--repository models/repository --model default:1 --threads "$THREADS")
mkdir -p "$OUT"

# 1. Held-out frames. 256x256 for the deletion study (each frame costs ~250 forward passes),
#    512x512 (the first frames of docs/make_default_model_results.sh's evaluation set) for the
#    rest.
"$BIN/sim/fringe-sim" --out "$WORK/heldout256" --count 20 --seed 777 --size 256 --dose 50:1000 \
  --threads 2 --quiet --overwrite
"$BIN/sim/fringe-sim" --out "$WORK/heldout512" --count 16 --seed 777 --size 512 --dose 50:1000 \
  --threads 2 --quiet --overwrite

# 2. Deletion/insertion curves: target = sum of particle logits over the predicted region;
#    deleted 8x8 patches become 0 (the frame mean after standardisation).
rm -rf "$OUT/deletion" "$OUT/deletion-blur-reference"
mkdir -p "$OUT/deletion" "$OUT/deletion-blur-reference"
"$FRINGE" analyze deletion "${MODEL[@]}" --data "$WORK/heldout256" --out "$OUT/deletion" \
  --methods lrp,lrp-epsilon-plus-flat,gradient,signed:gradient,gradient-x-input,integrated-gradients,random \
  --param integrated-gradients.steps=16 --param integrated-gradients.batch=4 \
  --patch 8 --steps 16 --random-seeds 3 | tee "$OUT/deletion/summary.txt"

# 3. The same check with a different reference: deleted patches become the frame blurred with
#    sigma 4 px (fringes gone, local contrast kept), on the first 8 frames.
"$FRINGE" analyze deletion "${MODEL[@]}" --data "$WORK/heldout256" --limit 8 \
  --out "$OUT/deletion-blur-reference" --reference blur --reference-sigma 4 \
  --methods lrp,gradient,gradient-x-input,random --patch 8 --steps 16 --random-seeds 3 \
  | tee "$OUT/deletion-blur-reference/summary.txt"
rm -f "$OUT/deletion-blur-reference/examples.png"  # The same maps as deletion/examples.png.

# 4. Relevance spectrum (LRP epsilon-gamma-box, predicted particle region) vs the input's.
rm -rf "$OUT/spectrum" && mkdir -p "$OUT/spectrum"
"$FRINGE" analyze spectrum "${MODEL[@]}" --data "$WORK/heldout512" --out "$OUT/spectrum" \
  --method lrp | tee "$OUT/spectrum/summary.txt"

# 5. First-layer filters.
rm -rf "$OUT/filters" && mkdir -p "$OUT/filters"
"$FRINGE" analyze filters "${MODEL[@]}" --out "$OUT/filters" | tee "$OUT/filters/summary.txt"

# 6. Blur sweep.
rm -rf "$OUT/blur" && mkdir -p "$OUT/blur"
"$FRINGE" analyze blur "${MODEL[@]}" --data "$WORK/heldout512" --out "$OUT/blur" \
  --sigmas 0,0.5,1,1.5,2,2.5,3,4,6 | tee "$OUT/blur/summary.txt"

# 7. Logit maps of the first 256x256 held-out frame (with its true mask).
rm -rf "$OUT/logits" && mkdir -p "$OUT/logits"
"$FRINGE" analyze logits "${MODEL[@]}" --data "$WORK/heldout256" --limit 1 --out "$OUT/logits" \
  | tee "$OUT/logits/summary.txt"
# The raw logit arrays are 256 KiB each and reproducible: keep the picture and the numbers.
rm -f "$OUT"/logits/*.npy

# 8. Memory is freed after each request: resident set size over 1,000 LRP explains.
"$BIN/models/attribution/attribution_bench" --mode memory --memory-requests 1000 \
  --memory-size 64 --threads "$THREADS" --json "$OUT/memory.json" | tee "$OUT/memory.txt"
echo "wrote $OUT"
