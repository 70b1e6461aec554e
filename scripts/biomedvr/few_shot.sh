#!/usr/bin/env bash
# BioMedVR: see scripts/common.sh:few_shot for the arguments.
METHOD=BioMedVR
source "$(dirname "$0")/../common.sh"
few_shot "$@"
