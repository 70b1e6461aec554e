#!/usr/bin/env bash
# AttrVR_ZS: see scripts/common.sh:zero_shot for the arguments.
METHOD=AttrVR_ZS
source "$(dirname "$0")/../common.sh"
zero_shot "$@"
