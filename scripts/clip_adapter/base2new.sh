#!/usr/bin/env bash
# CLIP_Adapter: see scripts/common.sh:base2new for the arguments.
METHOD=CLIP_Adapter
source "$(dirname "$0")/../common.sh"
base2new "$@"
