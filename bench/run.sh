#!/usr/bin/env bash
# Builds and runs the benchmarks on this machine; results go to bench/results/*.json.
# Run it on a quiet machine: every number is a ratio or rate measured in the same run.
set -euo pipefail
cd "$(dirname "$0")/.."
bash deploy/install-deps.sh
bash deploy/build.sh serving_bench train_bench fringe-server
BIN=${FRINGE_BUILD_DIR:-build}
mkdir -p bench/results
echo "== serving (bench/serving_bench.cc)"
"$BIN/bench/serving_bench" --server-bin "$BIN/server/fringe-server" \
  --json bench/results/serving.json "$@"
echo "== simulator and training (bench/train_bench.cc)"
"$BIN/bench/train_bench" --json bench/results/train.json
