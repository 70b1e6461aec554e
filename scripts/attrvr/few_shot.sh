#!/usr/bin/env bash
# AttrVR: see scripts/common.sh:few_shot for the arguments.
METHOD=AttrVR
source "$(dirname "$0")/../common.sh"
few_shot "$@"
