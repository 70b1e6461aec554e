#!/usr/bin/env bash
# LPPlusPlus: see scripts/common.sh:few_shot for the arguments.
METHOD=LPPlusPlus
ZERO_SHOT_SCRIPT=scripts/zeroshot/zero_shot.sh
source "$(dirname "$0")/../common.sh"
few_shot "$@"
