#!/usr/bin/env bash
# KgCoOp: see scripts/common.sh:eval_fewshot for the arguments.
METHOD=KgCoOp
ZERO_SHOT_SCRIPT=scripts/zeroshot/zero_shot.sh
source "$(dirname "$0")/../common.sh"
eval_fewshot "$@"
