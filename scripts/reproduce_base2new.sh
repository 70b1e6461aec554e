#!/usr/bin/env bash
# The base-to-novel table: train on base classes, test on new ones, 3 seeds, 11 datasets, then the table.
# The prompt-learning methods run on BiomedCLIP and the others on ViT-B/16; BACKBONE=... runs all on it.
set -euo pipefail
cd "$(dirname "$0")/.."
PROMPT_BACKBONE=${BACKBONE:-BiomedCLIP}
BACKBONE=${BACKBONE:-ViT-B/16}
DATASETS=${DATASETS:-"btmri busi chmnist covid ctkidney dermamnist kneexray kvasir lungcolon octmnist retina"}
METHODS=${METHODS:-"CoOp CoCoOp KgCoOp ProGrad BiomedCoOp VP AR AttrVR BioMedVR"}
for dataset in $DATASETS; do
  for method in $METHODS; do
    backbone=$BACKBONE
    case $method in CoOp | CoCoOp | KgCoOp | ProGrad | BiomedCoOp) backbone=$PROMPT_BACKBONE ;; esac
    bash "scripts/$(echo "$method" | tr '[:upper:]' '[:lower:]')/base2new.sh" "$dataset" "$backbone"
  done
done
python3 -m tools.results "${OUTPUT:-output}" --format md
