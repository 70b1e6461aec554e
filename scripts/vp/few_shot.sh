#!/usr/bin/env bash
# VP: see scripts/common.sh:few_shot for the arguments.
METHOD=VP
source "$(dirname "$0")/../common.sh"
few_shot "$@"
