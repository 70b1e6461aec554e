#!/usr/bin/env bash
# CoOp: see scripts/common.sh:few_shot for the arguments.
METHOD=CoOp
source "$(dirname "$0")/../common.sh"
few_shot "$@"
