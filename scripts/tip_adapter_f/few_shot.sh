#!/usr/bin/env bash
# TipAdapter_F: see scripts/common.sh:few_shot for the arguments.
METHOD=TipAdapter_F
ZERO_SHOT_SCRIPT=scripts/zeroshot/zero_shot.sh
source "$(dirname "$0")/../common.sh"
few_shot "$@"
