#!/usr/bin/env bash
# LinearProbe: see scripts/common.sh:eval_fewshot for the arguments.
METHOD=LinearProbe
ZERO_SHOT_SCRIPT=scripts/zeroshot/zero_shot.sh
source "$(dirname "$0")/../common.sh"
eval_fewshot "$@"
