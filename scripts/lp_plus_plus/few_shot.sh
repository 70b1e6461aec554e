#!/usr/bin/env bash
# LPPlusPlus: see scripts/common.sh:few_shot for the arguments.
METHOD=LPPlusPlus
source "$(dirname "$0")/../common.sh"
few_shot "$@"
