#!/usr/bin/env bash
# TipAdapter: see scripts/common.sh:few_shot for the arguments.
METHOD=TipAdapter
source "$(dirname "$0")/../common.sh"
few_shot "$@"
