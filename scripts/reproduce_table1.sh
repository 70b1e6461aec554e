#!/usr/bin/env bash
# Table 1: every method on the 11 datasets, 3 seeds, SHOTS (default 16) shots, then the table.
# Needs a GPU and the data (DATA, default data). BACKBONE defaults to ViT-B/16; METHODS and DATASETS
# may be narrowed, e.g. METHODS="BioMedVR CoOp" DATASETS="btmri busi" bash scripts/reproduce_table1.sh
set -euo pipefail
cd "$(dirname "$0")/.."
SHOTS=${SHOTS:-16}
BACKBONE=${BACKBONE:-ViT-B/16}
DATASETS=${DATASETS:-"btmri busi chmnist covid ctkidney dermamnist kneexray kvasir lungcolon octmnist retina"}
METHODS=${METHODS:-"ZeroshotCLIP AttrVR_ZS BioMedVR_ZS CoOp VP AR AttrVR BioMedVR"}
declare -A FOLDER=([ZeroshotCLIP]=zeroshot [AttrVR_ZS]=attrvr_zs [BioMedVR_ZS]=biomedvr_zs [CoOp]=coop
  [VP]=vp [AR]=ar [AttrVR]=attrvr [BioMedVR]=biomedvr)
for dataset in $DATASETS; do
  for method in $METHODS; do
    script=scripts/${FOLDER[$method]}
    if [ -f "$script/zero_shot.sh" ]; then
      bash "$script/zero_shot.sh" "$dataset" "$BACKBONE"
    else
      bash "$script/few_shot.sh" "$dataset" "$SHOTS" "$BACKBONE"
    fi
  done
done
python3 -m tools.results "${OUTPUT:-output}" --shots "$SHOTS" --format md
