#!/usr/bin/env bash
# CLIP_Adapter: see scripts/common.sh:eval_fewshot for the arguments.
METHOD=CLIP_Adapter
ZERO_SHOT_SCRIPT=scripts/zeroshot/zero_shot.sh
source "$(dirname "$0")/../common.sh"
eval_fewshot "$@"
