#!/usr/bin/env bash
# AR: see scripts/common.sh:base2new for the arguments.
METHOD=AR
source "$(dirname "$0")/../common.sh"
base2new "$@"
