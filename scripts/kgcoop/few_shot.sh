#!/usr/bin/env bash
# KgCoOp: see scripts/common.sh:few_shot for the arguments.
METHOD=KgCoOp
ZERO_SHOT_SCRIPT=scripts/zeroshot/zero_shot.sh
source "$(dirname "$0")/../common.sh"
few_shot "$@"
