#!/usr/bin/env bash
# Table 1: every method on the 11 datasets, 3 seeds, SHOTS (default 16) shots, then the table.
# Needs a GPU and the data (DATA, default data). As in the paper, the prompt-learning rows run on
# BiomedCLIP and the others on ViT-B/16; BACKBONE=... runs every row on that backbone. METHODS and
# DATASETS may be narrowed, e.g. METHODS="BioMedVR CoOp" DATASETS="btmri busi" bash scripts/reproduce_table1.sh
# METHODS may add BiomedCoOp's benchmark rows LinearProbe LPPlusPlus CLIP_Adapter TipAdapter TipAdapter_F,
# which run on BiomedCLIP as in its benchmark.
set -euo pipefail
cd "$(dirname "$0")/.."
SHOTS=${SHOTS:-16}
PROMPT_BACKBONE=${BACKBONE:-BiomedCLIP}
BACKBONE=${BACKBONE:-ViT-B/16}
DATASETS=${DATASETS:-"btmri busi chmnist covid ctkidney dermamnist kneexray kvasir lungcolon octmnist retina"}
METHODS=${METHODS:-"ZeroshotCLIP AttrVR_ZS BioMedVR_ZS CoOp CoCoOp BiomedCoOp VP AR AttrVR BioMedVR"}
declare -A FOLDER=([ZeroshotCLIP]=zeroshot [AttrVR_ZS]=attrvr_zs [BioMedVR_ZS]=biomedvr_zs [CoOp]=coop
  [CoCoOp]=cocoop [BiomedCoOp]=biomedcoop [KgCoOp]=kgcoop [ProGrad]=prograd
  [VP]=vp [AR]=ar [AttrVR]=attrvr [BioMedVR]=biomedvr [LinearProbe]=linear_probe [LPPlusPlus]=lp_plus_plus
  [CLIP_Adapter]=clip_adapter [TipAdapter]=tip_adapter [TipAdapter_F]=tip_adapter_f)
declare -A ON_PROMPT_BACKBONE=([CoOp]=1 [CoCoOp]=1 [BiomedCoOp]=1 [KgCoOp]=1 [ProGrad]=1
  [LinearProbe]=1 [LPPlusPlus]=1 [CLIP_Adapter]=1 [TipAdapter]=1 [TipAdapter_F]=1)
for dataset in $DATASETS; do
  for method in $METHODS; do
    script=scripts/${FOLDER[$method]}
    backbone=$BACKBONE
    [ -n "${ON_PROMPT_BACKBONE[$method]:-}" ] && backbone=$PROMPT_BACKBONE
    if [ -f "$script/zero_shot.sh" ]; then
      bash "$script/zero_shot.sh" "$dataset" "$backbone"
    else
      bash "$script/few_shot.sh" "$dataset" "$SHOTS" "$backbone"
    fi
  done
done
python3 -m tools.results "${OUTPUT:-output}" --shots "$SHOTS" --format md
