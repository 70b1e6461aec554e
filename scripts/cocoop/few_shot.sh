#!/usr/bin/env bash
# CoCoOp: see scripts/common.sh:few_shot for the arguments.
METHOD=CoCoOp
source "$(dirname "$0")/../common.sh"
few_shot "$@"
