#!/usr/bin/env bash
# AttrVR: see scripts/common.sh:base2new for the arguments.
METHOD=AttrVR
ZERO_SHOT_SCRIPT=scripts/attrvr_zs/zero_shot.sh
source "$(dirname "$0")/../common.sh"
base2new "$@"
