#!/usr/bin/env bash
# Issue 12, item 6: what does the network use on carbon it mistakes for gold, and how does that
# change with domain randomisation? Takes the frames where default:1 had the lowest precision
# in docs/results/robustness/default/<set> (written by evaluate_default.sh, whose data folder
# is given as WORK) and explains the predicted particle pixels of default:1 and the robust default with
# LRP through the real server (default:1 and FRINGE_NEW_MODEL, default default:3). Writes
# docs/results/robustness/lrp/<stem>_<model>_{mask,relevance}.png
# and lrp.md (a table of pictures and the printed target/relevance numbers).
#   FRINGE_RESULTS_WORK=/tmp/robust bash docs/results/robustness/explain_false_positives.sh [SET] [N]
set -euo pipefail
cd "$(dirname "$0")/../../.."
BIN=${FRINGE_BUILD_DIR:-build}
WORK=${FRINGE_RESULTS_WORK:?set FRINGE_RESULTS_WORK to evaluate_default.sh\'s data folder}
SET=${1:-held-out-gen}
N=${2:-3}
NEW=${FRINGE_NEW_MODEL:-default:3}
OUT=docs/results/robustness/lrp
mkdir -p "$OUT"
STEMS=$(/usr/bin/python3 - "docs/results/robustness/default/$SET/default-1/eval.csv" "$N" <<'PY'
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1])))
rows.sort(key=lambda r: float(r["precision"]))
print(" ".join(r["stem"] for r in rows[: int(sys.argv[2])]))
PY
)
"$BIN/server/fringe-server" --listen 127.0.0.1:0 --port-file "$WORK/lrp_port" \
  --repository models/repository --log-level warn > "$WORK/lrp_server.log" 2>&1 &
SERVER=$!
trap 'kill -TERM $SERVER 2>/dev/null; wait $SERVER 2>/dev/null || true' EXIT
rm -f "$WORK/lrp_port"
for _ in $(seq 1 600); do [ -s "$WORK/lrp_port" ] && break; sleep 0.1; done
ADDR=127.0.0.1:$(cat "$WORK/lrp_port")
for _ in $(seq 1 600); do "$BIN/client/fringe" --server "$ADDR" health >/dev/null 2>&1 && break; sleep 0.1; done
{
  echo "| frame | truth | default:1 mask | default:1 LRP | $NEW mask | $NEW LRP |"
  echo "|---|---|---|---|---|---|"
} > "$OUT/lrp.md"
NOTES=""
for stem in $STEMS; do
  image=$(ls "$WORK/$SET/images/$stem".*)
  cp "$WORK/$SET/masks/$stem.png" "$OUT/${stem}_truth.png"
  row="| $stem | ![](${stem}_truth.png) |"
  for model in default:1 "$NEW"; do
    tag=${model//:/-}
    "$BIN/client/fringe" --server "$ADDR" segment "$image" --model "$model" \
      --out "$WORK/lrp_$tag" > /dev/null
    cp "$WORK/lrp_$tag/${stem}_overlay.png" "$OUT/${stem}_${tag}_mask.png"
    line=$("$BIN/client/fringe" --server "$ADDR" explain "$image" --model "$model" \
      --method lrp --target predicted --out "$WORK/lrp_$tag" | head -1)
    cp "$WORK/lrp_$tag/${stem}_relevance.png" "$OUT/${stem}_${tag}_relevance.png"
    row="$row ![](${stem}_${tag}_mask.png) | ![](${stem}_${tag}_relevance.png) |"
    NOTES="$NOTES
- $line"
  done
  echo "$row" >> "$OUT/lrp.md"
done
printf '\nLRP (epsilon-gamma-box composite) of the sum of particle logits over the predicted particle pixels:\n%s\n' "$NOTES" >> "$OUT/lrp.md"
cat "$OUT/lrp.md"
