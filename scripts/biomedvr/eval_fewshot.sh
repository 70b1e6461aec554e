#!/usr/bin/env bash
# BioMedVR: see scripts/common.sh:eval_fewshot for the arguments.
METHOD=BioMedVR
source "$(dirname "$0")/../common.sh"
eval_fewshot "$@"
