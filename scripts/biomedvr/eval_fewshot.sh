#!/usr/bin/env bash
# BioMedVR: see scripts/common.sh:eval_fewshot for the arguments.
METHOD=BioMedVR
ZERO_SHOT_SCRIPT=scripts/biomedvr_zs/zero_shot.sh
source "$(dirname "$0")/../common.sh"
eval_fewshot "$@"
