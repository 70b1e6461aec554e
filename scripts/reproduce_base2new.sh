#!/usr/bin/env bash
# The base-to-novel table: train on base classes, test on new ones, 3 seeds, 11 datasets, then the table.
set -euo pipefail
cd "$(dirname "$0")/.."
BACKBONE=${BACKBONE:-ViT-B/16}
DATASETS=${DATASETS:-"btmri busi chmnist covid ctkidney dermamnist kneexray kvasir lungcolon octmnist retina"}
METHODS=${METHODS:-"CoOp VP AR AttrVR BioMedVR"}
for dataset in $DATASETS; do
  for method in $METHODS; do
    bash "scripts/$(echo "$method" | tr '[:upper:]' '[:lower:]')/base2new.sh" "$dataset" "$BACKBONE"
  done
done
python3 -m tools.results "${OUTPUT:-output}" --format md
