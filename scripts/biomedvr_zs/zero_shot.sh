#!/usr/bin/env bash
# BioMedVR_ZS: see scripts/common.sh:zero_shot for the arguments.
METHOD=BioMedVR_ZS
source "$(dirname "$0")/../common.sh"
zero_shot "$@"
