#!/usr/bin/env bash
# ProGrad: see scripts/common.sh:few_shot for the arguments.
METHOD=ProGrad
ZERO_SHOT_SCRIPT=scripts/zeroshot/zero_shot.sh
source "$(dirname "$0")/../common.sh"
few_shot "$@"
