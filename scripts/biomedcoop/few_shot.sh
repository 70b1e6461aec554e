#!/usr/bin/env bash
# BiomedCoOp: see scripts/common.sh:few_shot for the arguments.
METHOD=BiomedCoOp
source "$(dirname "$0")/../common.sh"
few_shot "$@"
