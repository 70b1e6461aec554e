#!/usr/bin/env bash
# CoCoOp: see scripts/common.sh:base2new for the arguments.
METHOD=CoCoOp
ZERO_SHOT_SCRIPT=scripts/zeroshot/zero_shot.sh
source "$(dirname "$0")/../common.sh"
base2new "$@"
