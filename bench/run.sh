#!/usr/bin/env bash
# Builds and runs the benchmarks on this machine; results go to bench/results/*.json.
# Run it on a quiet machine: every number is a ratio or rate measured in the same run.
set -euo pipefail
cd "$(dirname "$0")/.."
bash deploy/install-deps.sh
bash deploy/build.sh serving_bench train_bench attribution_bench lab_bench fringe-server
BIN=${FRINGE_BUILD_DIR:-build}
mkdir -p bench/results
echo "== serving (bench/serving_bench.cc)"
"$BIN/bench/serving_bench" --server-bin "$BIN/server/fringe-server" \
  --json bench/results/serving.json "$@"
echo "== simulator and training (bench/train_bench.cc)"
"$BIN/bench/train_bench" --json bench/results/train.json
echo "== attribution (models/attribution/attribution_bench_main.cc): every method's cost, then"
echo "   the resident set size over 1,000 LRP explains (memory must be freed after each request)"
"$BIN/models/attribution/attribution_bench" --threads 2 --memory-requests 1000 \
  --json bench/results/attribution.json
echo "== shared lab server (bench/lab_bench.cc): live latency idle / training / flood, training shared"
"$BIN/bench/lab_bench" --server-bin "$BIN/server/fringe-server" --json bench/results/lab.json
echo "   the same with the training job's pieces on one thread"
"$BIN/bench/lab_bench" --server-bin "$BIN/server/fringe-server" --training-threads 1 \
  --json bench/results/lab_training_threads1.json
