#!/usr/bin/env bash
# BiomedCoOp: see scripts/common.sh:eval_fewshot for the arguments.
METHOD=BiomedCoOp
ZERO_SHOT_SCRIPT=scripts/zeroshot/zero_shot.sh
FOLDER_KEYS="TRAINER.BIOMEDCOOP.PROMPTS=biomedcoop"
source "$(dirname "$0")/../common.sh"
eval_fewshot "$@"
