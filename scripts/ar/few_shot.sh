#!/usr/bin/env bash
# AR: see scripts/common.sh:few_shot for the arguments.
METHOD=AR
source "$(dirname "$0")/../common.sh"
few_shot "$@"
