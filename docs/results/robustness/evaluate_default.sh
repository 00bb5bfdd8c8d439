#!/usr/bin/env bash
# Evaluates shipped model versions side by side on data the training recipe never generated
# (GitHub issue 12), through the real server and `fringe eval` / `fringe segment`, so every
# number below went through the serving path a user's frame takes (pixel size sent, resampled,
# spikes removed):
#   classic        fringe-sim's classic physics (what default:1 learned), seed 777, 24 frames
#   randomized     every nuisance factor on (sim/domain_randomization.h), seed 779
#   held-out-gen   the held-out generator (phase-field carbon, scintillator CCD), seed 780
#   px-0.01 .. px-0.06   classic physics at one pixel size each, sent with that pixel size
#   msa-em         real hand-labelled bright-field TEM (no pixel size: served as is)
#   real-carbon    real frames without gold (tiff/ExampleImage.tif 0.0555 nm/px,
#                  dm/multi_signal.dm3 0.0178 nm/px): false-positive area, should be ~0
# FRINGE_EVAL_REUSE=1 skips (set, model) pairs already evaluated. Results land in
# docs/results/robustness/default/ (summary.txt per set and model, eval.csv,
# masks of the real frames) and a table in docs/results/robustness/default/table.md.
#   bash docs/results/robustness/evaluate_default.sh [MODEL...]   (default: default:1 default:2)
set -euo pipefail
cd "$(dirname "$0")/../../.."
BIN=${FRINGE_BUILD_DIR:-build}
WORK=${FRINGE_RESULTS_WORK:-$(mktemp -d)}
OUT=docs/results/robustness/default
SAMPLES=../shared/microscopy-samples
MODELS=("$@")
[ ${#MODELS[@]} -eq 0 ] && MODELS=(default:1 default:2)
N=${FRINGE_EVAL_FRAMES:-24}
mkdir -p "$OUT"

sim() {  # sim NAME SEED ARGS...
  local name=$1 seed=$2
  shift 2
  [ -f "$WORK/$name/manifest.json" ] || "$BIN/sim/fringe-sim" --out "$WORK/$name" --count "$N" \
    --seed "$seed" --size 512 --dose 50:1000 --threads 2 --quiet --overwrite "$@"
}
sim classic 777
sim randomized 779 --randomize --pixel-size 0.02:0.025
sim held-out-gen 780 --held-out-generator --pixel-size 0.02:0.025
for px in 0.01 0.02 0.03 0.04 0.06; do sim "px-$px" 781 --pixel-size "$px:$px"; done

rm -f "$WORK/port"
"$BIN/server/fringe-server" --listen 127.0.0.1:0 --port-file "$WORK/port" \
  --repository models/repository --log-level warn > "$WORK/server.log" 2>&1 &
SERVER=$!
trap 'kill -TERM $SERVER 2>/dev/null; wait $SERVER 2>/dev/null || true' EXIT
for _ in $(seq 1 600); do [ -s "$WORK/port" ] && break; sleep 0.1; done
ADDR=127.0.0.1:$(cat "$WORK/port")
for _ in $(seq 1 600); do "$BIN/client/fringe" --server "$ADDR" health >/dev/null 2>&1 && break; sleep 0.1; done

SETS=(classic randomized held-out-gen px-0.01 px-0.02 px-0.03 px-0.04 px-0.06)
[ -d "$SAMPLES/labelled/msa-em_microscopy-seg-track" ] && SETS+=(msa-em)
for set in "${SETS[@]}"; do
  data="$WORK/$set"
  [ "$set" = msa-em ] && data="$SAMPLES/labelled/msa-em_microscopy-seg-track"
  for model in "${MODELS[@]}"; do
    dir="$OUT/$set/${model//:/-}"
    # FRINGE_EVAL_REUSE=1 keeps results already there (adding a model to an earlier run).
    if [ "${FRINGE_EVAL_REUSE:-0}" = 1 ] && [ -f "$dir/eval_summary.json" ]; then continue; fi
    mkdir -p "$dir"
    echo "== $set, $model"
    "$BIN/client/fringe" --server "$ADDR" eval --data "$data" --model "$model" --out "$dir" \
      --quiet | tee "$dir/summary.txt"
  done
done

# Real frames that contain no gold: every predicted particle pixel is a false positive.
# ExampleImage.tif keeps its calibration in a MATLAB sidecar (px_nm = 18.01941748 px/nm, see
# PROVENANCE.md), so its pixel size is given on the command line; multi_signal.dm3 carries its
# own (0.0178 nm/px).
if [ -f "$SAMPLES/tiff/ExampleImage.tif" ] || [ -f "$SAMPLES/dm/multi_signal.dm3" ]; then
  for model in "${MODELS[@]}"; do
    dir="$OUT/real-carbon/${model//:/-}"
    if [ "${FRINGE_EVAL_REUSE:-0}" = 1 ] && [ -s "$dir/summary.txt" ]; then continue; fi
    mkdir -p "$dir"
    : > "$dir/summary.txt"
    if [ -f "$SAMPLES/tiff/ExampleImage.tif" ]; then
      "$BIN/client/fringe" --server "$ADDR" segment "$SAMPLES/tiff/ExampleImage.tif" \
        --model "$model" --pixel-size-nm 0.055495 --out "$dir" | tee -a "$dir/summary.txt"
    fi
    if [ -f "$SAMPLES/dm/multi_signal.dm3" ]; then
      "$BIN/client/fringe" --server "$ADDR" segment "$SAMPLES/dm/multi_signal.dm3" \
        --model "$model" --out "$dir" | tee -a "$dir/summary.txt"
    fi
    # The overlays show the real frames themselves, which are not ours to copy into the
    # repository (shared/microscopy-samples/PROVENANCE.md): they stay in the work folder.
    mkdir -p "$WORK/overlays/${model//:/-}"
    mv "$dir"/*_overlay.png "$WORK/overlays/${model//:/-}/" 2>/dev/null || true
  done
  echo "overlays of the real frames (not committed): $WORK/overlays"
fi

/usr/bin/python3 - "$OUT" "${MODELS[@]}" <<'PY'
import csv, json, os, re, sys
out, models = sys.argv[1], sys.argv[2:]
sets = [s for s in ["classic", "randomized", "held-out-gen", "px-0.01", "px-0.02", "px-0.03",
                    "px-0.04", "px-0.06", "msa-em"] if os.path.isdir(os.path.join(out, s))]
def summary(s, m):
    p = os.path.join(out, s, m.replace(":", "-"), "eval_summary.json")
    return json.load(open(p)) if os.path.exists(p) else None
def ood(s, m):
    p = os.path.join(out, s, m.replace(":", "-"), "eval.csv")
    if not os.path.exists(p): return None
    rows = list(csv.DictReader(open(p)))
    return sum(r["out_of_domain"] == "1" for r in rows), len(rows)
lines = ["| set | " + " | ".join(f"{m} Dice (prec / rec)" for m in models) + " | " +
         " | ".join(f"{m} out-of-domain frames" for m in models) + " |",
         "|---|" + "---|" * (2 * len(models))]
for s in sets:
    cells = []
    for m in models:
        j = summary(s, m)
        if j is None: cells.append("-"); continue
        mean = j.get("mean", j)
        cells.append("%.3f (%.2f / %.2f)" % (mean["dice"], mean["precision"], mean["recall"]))
    for m in models:
        o = ood(s, m)
        cells.append("-" if o is None else "%d / %d" % o)
    lines.append(f"| {s} | " + " | ".join(cells) + " |")
real = os.path.join(out, "real-carbon")
if os.path.isdir(real):
    lines += ["", "Real frames without gold (predicted particle share = false-positive area):", ""]
    for m in models:
        p = os.path.join(real, m.replace(":", "-"), "summary.txt")
        if not os.path.exists(p): continue
        for line in open(p):
            mm = re.search(r"/([^/ ]+) -> .*\(particle ([0-9.]+)% of pixels\)", line)
            if mm: lines.append(f"- {m}: {mm.group(1)}: {mm.group(2)}% of pixels")
            elif line.startswith("  "): lines.append(f"  - {line.strip()}")
open(os.path.join(out, "table.md"), "w").write("\n".join(lines) + "\n")
print("\n".join(lines))
PY
