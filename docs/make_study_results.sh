#!/usr/bin/env bash
# Reproduces docs/results/study/: the architecture study (issue 7) with a 12-minute training
# budget per candidate on a 2-core machine (about 1 h 45 min in all), its table, CSV, JSON and
# plots, and the paired per-frame comparisons quoted in docs/results/study/README.md.
#   bash docs/make_study_results.sh            (FRINGE_STUDY_MINUTES, FRINGE_STUDY_OUT to change)
# Interrupt it at any time: the same command goes on where it stopped.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${FRINGE_BUILD_DIR:-build}
OUT=${FRINGE_STUDY_OUT:-study-output}
MINUTES=${FRINGE_STUDY_MINUTES:-12}
DOCS=docs/results/study
bash deploy/build.sh fringe-study
# PASSIVE: the simulator thread that prepares batches shares the cores with LibTorch's OpenMP
# threads, and spinning OpenMP barriers slowed training 1.3x (train_bench).
OMP_WAIT_POLICY=PASSIVE "$BIN/study/fringe-study" --config study/architecture_study.pbtxt \
  --out "$OUT" --minutes "$MINUTES"
mkdir -p "$DOCS"
cp "$OUT"/study.md "$OUT"/study.csv "$OUT"/study.json "$OUT"/*.png "$OUT"/relevance_spectra.csv \
  "$DOCS/"
# Paired comparisons: the candidates saw the same held-out frames, so per-frame Dice
# differences (mean +- standard error over frames) say whether a difference is consistent.
python3 - "$DOCS/study.json" "$OUT/checkpoints" <<'PY' | tee "$DOCS/paired.txt"
import json, math, os, sys
study = json.load(open(sys.argv[1]))
done = [c for c in study["candidates"] if c["status"] == "done"]
ref = next(c for c in done if c["name"] == "unet-w8")
print("per-frame Dice difference against unet-w8 (same %d frames): mean +- standard error, "
      "frames where better" % len(ref["dose_dice"]))
for c in done:
    if c is ref:
        continue
    d = [a[1] - b[1] for a, b in zip(c["dose_dice"], ref["dose_dice"])]
    n = len(d)
    m = sum(d) / n
    se = math.sqrt(sum((x - m) ** 2 for x in d) / (n - 1) / n)
    print("  %-24s %+.4f +- %.4f   better on %2d/%d" % (c["name"], m, se, sum(x > 0 for x in d), n))

# The same number of steps instead of the same time: the best validation Dice (24 validation
# frames, every 100 steps) within the first S steps, from each candidate's checkpoint history.
# Independent of how fast the machine was while a candidate trained.
steps = [200, 400, 600, 800, 1000]
print("\nbest validation Dice within the first S steps (validation set, not the held-out set)")
print("  %-24s" % "candidate" + "".join("%8d" % s for s in steps))
for c in done:
    d = os.path.join(sys.argv[2], c["name"])
    if not os.path.exists(os.path.join(d, "LATEST")):
        continue
    latest = open(os.path.join(d, "LATEST")).read().strip()
    history = json.load(open(os.path.join(d, latest, "state.json")))["history"]
    row = []
    for s in steps:
        seen = [h["metrics"]["dice"] for h in history if h["step"] <= s]
        row.append("%8.3f" % max(seen) if seen and history[-1]["step"] >= s else "%8s" % "-")
    print("  %-24s" % c["name"] + "".join(row))
PY
