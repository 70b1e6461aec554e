#!/usr/bin/env bash
# ZeroshotCLIP: see scripts/common.sh:zero_shot for the arguments.
METHOD=ZeroshotCLIP
source "$(dirname "$0")/../common.sh"
zero_shot "$@"
