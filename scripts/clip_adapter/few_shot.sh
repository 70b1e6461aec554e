#!/usr/bin/env bash
# CLIP_Adapter: see scripts/common.sh:few_shot for the arguments.
METHOD=CLIP_Adapter
ZERO_SHOT_SCRIPT=scripts/zeroshot/zero_shot.sh
source "$(dirname "$0")/../common.sh"
few_shot "$@"
