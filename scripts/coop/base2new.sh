#!/usr/bin/env bash
# CoOp: see scripts/common.sh:base2new for the arguments.
METHOD=CoOp
source "$(dirname "$0")/../common.sh"
base2new "$@"
