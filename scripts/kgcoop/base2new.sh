#!/usr/bin/env bash
# KgCoOp: see scripts/common.sh:base2new for the arguments.
METHOD=KgCoOp
source "$(dirname "$0")/../common.sh"
base2new "$@"
