#!/usr/bin/env bash
# CLIP_Adapter: see scripts/common.sh:few_shot for the arguments.
METHOD=CLIP_Adapter
source "$(dirname "$0")/../common.sh"
few_shot "$@"
