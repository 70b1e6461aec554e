#!/usr/bin/env bash
# VP: see scripts/common.sh:base2new for the arguments.
METHOD=VP
source "$(dirname "$0")/../common.sh"
base2new "$@"
