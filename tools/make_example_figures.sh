#!/usr/bin/env bash
# The README's example figures: a few short runs of the tiny random test model on a synthetic BTMRI,
# then tools.figures. No GPU, weights or data needed; the numbers mean nothing, the figures show the
# kind of output you get. Usage: bash tools/make_example_figures.sh [WORKDIR]   (default /tmp/biomedvr-example)
set -euo pipefail
cd "$(dirname "$0")/.."
WORK=${1:-/tmp/biomedvr-example}
export DATA="$WORK/data" OUTPUT="$WORK/output" SEEDS="1 2"
TINY=tests/fixtures/biomedvr-test-tiny.json
python3 -m tools.synthetic_data --root "$DATA" BTMRI --per-class 16 4 24 --size 96 96
for shots in 1 2 4; do
  for method in biomedvr attrvr ar; do
    bash "scripts/$method/few_shot.sh" btmri "$shots" "$TINY" OPTIM.MAX_EPOCH 15 DATALOADER.NUM_WORKERS 0 \
      TRAINER.COMMON.SAVE_EMBEDDINGS True
  done
done
bash scripts/zeroshot/zero_shot.sh btmri "$TINY" DATALOADER.NUM_WORKERS 0 TRAINER.COMMON.SAVE_EMBEDDINGS True
python3 -m tools.results "$OUTPUT" --backbone biomedvr-test-tiny --shots 4
python3 -m tools.figures "$OUTPUT" --out "$WORK/figures" --backbone biomedvr-test-tiny --shots 4
