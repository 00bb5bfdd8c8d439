#!/usr/bin/env bash
# The robustness study (GitHub issue 12): study/robustness_study.pbtxt, 7 candidates x 10 min of
# training on 2 CPU cores plus evaluation on 5 named sets (~1.5 h). Runs in the background and
# is resumable: rerunning this script continues where an interrupted run stopped (finished
# candidates are kept, the interrupted one resumes from its checkpoint with the rest of its
# budget). The report lands in $OUT (study.md, evaluation_sets.csv, study.json, montages under
# evaluation/); copy study.md, *.csv, study.json and evaluation/ here when it is done.
#   docs/results/robustness/run.sh            start or resume in the background
#   docs/results/robustness/run.sh --wait     the same, in the foreground
#   tail -f robustness-output/run.log         progress
# Needs build/study/fringe-study (bash deploy/build.sh --target fringe-study). Real data from
# ../shared/microscopy-samples is used when present and reported as skipped otherwise.
set -euo pipefail
cd "$(dirname "$0")/../../.."
OUT=${OUT:-robustness-output}
BIN=${FRINGE_STUDY:-build/study/fringe-study}
mkdir -p "$OUT"
if [ -f "$OUT/run.pid" ] && kill -0 "$(cat "$OUT/run.pid")" 2>/dev/null; then
  echo "already running (pid $(cat "$OUT/run.pid")); tail -f $OUT/run.log" >&2
  exit 1
fi
export OMP_WAIT_POLICY=PASSIVE
cmd=("$BIN" --config study/robustness_study.pbtxt --out "$OUT")
if [ "${1:-}" = "--wait" ]; then
  "${cmd[@]}" 2>&1 | tee -a "$OUT/run.log"
else
  nohup "${cmd[@]}" >>"$OUT/run.log" 2>&1 &
  echo $! >"$OUT/run.pid"
  echo "started (pid $!); tail -f $OUT/run.log; rerun this script to resume after an interruption"
fi
