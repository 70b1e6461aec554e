#!/usr/bin/env bash
# CLIP_Adapter: see scripts/common.sh:eval_fewshot for the arguments.
METHOD=CLIP_Adapter
source "$(dirname "$0")/../common.sh"
eval_fewshot "$@"
