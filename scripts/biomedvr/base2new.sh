#!/usr/bin/env bash
# BioMedVR: see scripts/common.sh:base2new for the arguments.
METHOD=BioMedVR
source "$(dirname "$0")/../common.sh"
base2new "$@"
