#!/usr/bin/env bash
# BioMedVR: see scripts/common.sh:base2new for the arguments.
METHOD=BioMedVR
ZERO_SHOT_SCRIPT=scripts/biomedvr_zs/zero_shot.sh
source "$(dirname "$0")/../common.sh"
base2new "$@"
