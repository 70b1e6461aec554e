#!/usr/bin/env bash
# ProGrad: see scripts/common.sh:base2new for the arguments.
METHOD=ProGrad
source "$(dirname "$0")/../common.sh"
base2new "$@"
