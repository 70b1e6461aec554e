#!/usr/bin/env bash
# LinearProbe: see scripts/common.sh:few_shot for the arguments.
METHOD=LinearProbe
source "$(dirname "$0")/../common.sh"
few_shot "$@"
