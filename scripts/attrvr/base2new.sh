#!/usr/bin/env bash
# AttrVR: see scripts/common.sh:base2new for the arguments.
METHOD=AttrVR
source "$(dirname "$0")/../common.sh"
base2new "$@"
