#!/usr/bin/env bash
# CoCoOp: see scripts/common.sh:base2new for the arguments.
METHOD=CoCoOp
source "$(dirname "$0")/../common.sh"
base2new "$@"
