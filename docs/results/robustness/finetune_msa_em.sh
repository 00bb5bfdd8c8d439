#!/usr/bin/env bash
# Real data through the lab loop (issue 12): fine-tune the shipped default on the real
# hand-labelled msa-em frames image_0..image_13 through the server's own API - dataset upload,
# a training job, the new version served - and score image_14..image_19 zero-shot and
# fine-tuned with `fringe eval`. The PNGs carry no pixel size, so the job's model config
# records none (pixel_size_nm 0): the fine-tuned version is never resampled.
# Everything runs in a temporary state dir and a temporary copy of the repository (nothing is
# added to models/repository). Results: docs/results/robustness/msa-em-finetune/.
#   bash docs/results/robustness/finetune_msa_em.sh [BASE_MODEL]     (default: default)
set -euo pipefail
cd "$(dirname "$0")/../../.."
BIN=${FRINGE_BUILD_DIR:-build}
BASE=${1:-default}
SRC=../shared/microscopy-samples/labelled/msa-em_microscopy-seg-track
OUT=docs/results/robustness/msa-em-finetune
if [ ! -d "$SRC" ]; then
  echo "skipped: $SRC is absent" >&2
  exit 0
fi
WORK=$(mktemp -d)
mkdir -p "$OUT" "$WORK/train/images" "$WORK/train/masks" "$WORK/test/images" "$WORK/test/masks"
for i in $(seq 0 19); do
  part=train; [ "$i" -ge 14 ] && part=test
  cp "$SRC/images/image_$i.png" "$WORK/$part/images/"
  cp "$SRC/labels/label_$i.png" "$WORK/$part/masks/image_$i.png"  # Datasets.Upload: masks/<stem>
done
cp -r models/repository "$WORK/repository"
rm -rf "$WORK/repository/.checkpoints"

"$BIN/server/fringe-server" --listen 127.0.0.1:0 --port-file "$WORK/port" \
  --repository "$WORK/repository" --state-dir "$WORK/state" --metrics-listen off \
  --repository-poll-seconds 1 --log-level warn > "$WORK/server.log" 2>&1 &
SERVER=$!
trap 'kill -TERM $SERVER 2>/dev/null; wait $SERVER 2>/dev/null || true' EXIT
for _ in $(seq 1 600); do [ -s "$WORK/port" ] && break; sleep 0.1; done
ADDR=127.0.0.1:$(cat "$WORK/port")
F=("$BIN/client/fringe" --server "$ADDR")
for _ in $(seq 1 600); do "${F[@]}" health >/dev/null 2>&1 && break; sleep 0.1; done

# The base model's architecture, so the job's network matches the weights it starts from.
ARCH=$(sed -n '/^unet {/,/^}/p' "$WORK/repository/$BASE/$(ls "$WORK/repository/$BASE" | sort -n | tail -1)/config.pbtxt" \
  | tr '\n' ' ')
cat > "$WORK/job.pbtxt" <<PBTXT
model {
  architecture: "unet"
  $ARCH
  tile_size: 512
  tile_margin: 32
  classes: "background"
  classes: "particle"
  normalization { kind: STANDARDIZE_FRAME }
  description: "$BASE fine-tuned on the real msa-em frames image_0..image_13 (bright-field TEM, pixel size unknown)"
}
labelled { validation_fraction: 0.15 split_seed: 1 }
augmentation { flips: true rot90: true noise_rho_max: 0.2 }
loss { focal_gamma: 1.0 false_positive_weight: 0.5 }
tile: 256
batch_size: 4
steps: ${FRINGE_FINETUNE_STEPS:-300}
learning_rate: 0.0005
min_learning_rate: 0.00002
warmup_steps: 20
validate_every: 50
validation_images: 4
validation_size: 256
seed: 7
PBTXT
cp "$WORK/job.pbtxt" "$OUT/job.pbtxt"

{
  echo "# commands (server on $ADDR, state in a temporary folder)"
  echo "fringe datasets upload msa-em-train TRAIN_DIR"
  echo "fringe jobs submit --config job.pbtxt --dataset msa-em-train --init-from $BASE --name msa-em --watch"
  echo "fringe eval --data TEST_DIR --model $BASE        # zero-shot"
  echo "fringe eval --data TEST_DIR --model msa-em       # fine-tuned"
} > "$OUT/commands.txt"

"${F[@]}" datasets upload msa-em-train "$WORK/train" | tee "$OUT/upload.txt"
start=$(date +%s)
"${F[@]}" jobs submit --config "$WORK/job.pbtxt" --dataset msa-em-train --init-from "$BASE" \
  --name msa-em --watch 2>&1 | tr '\r' '\n' | tail -5 | tee "$OUT/job.txt"
echo "job wall time: $(( $(date +%s) - start )) s" | tee -a "$OUT/job.txt"
for _ in $(seq 1 100); do "${F[@]}" models msa-em > /dev/null 2>&1 && break; sleep 0.2; done
"${F[@]}" models msa-em | tee "$OUT/model.txt"
mkdir -p "$OUT/zero-shot" "$OUT/fine-tuned"
"${F[@]}" eval --data "$WORK/test" --model "$BASE" --out "$OUT/zero-shot" | tee "$OUT/zero-shot/summary.txt"
"${F[@]}" eval --data "$WORK/test" --model msa-em --out "$OUT/fine-tuned" | tee "$OUT/fine-tuned/summary.txt"
grep -n "pixel_size_nm" "$WORK/repository/msa-em/1/config.pbtxt" > "$OUT/pixel_size.txt" \
  || echo "pixel_size_nm not recorded (0 = unknown): the version is never resampled" > "$OUT/pixel_size.txt"
