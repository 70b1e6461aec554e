#!/usr/bin/env bash
# BiomedCoOp: see scripts/common.sh:base2new for the arguments.
METHOD=BiomedCoOp
source "$(dirname "$0")/../common.sh"
base2new "$@"
