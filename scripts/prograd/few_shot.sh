#!/usr/bin/env bash
# ProGrad: see scripts/common.sh:few_shot for the arguments.
METHOD=ProGrad
source "$(dirname "$0")/../common.sh"
few_shot "$@"
