#!/usr/bin/env bash
# KgCoOp: see scripts/common.sh:few_shot for the arguments.
METHOD=KgCoOp
source "$(dirname "$0")/../common.sh"
few_shot "$@"
