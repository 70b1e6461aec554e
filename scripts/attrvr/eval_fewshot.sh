#!/usr/bin/env bash
# AttrVR: see scripts/common.sh:eval_fewshot for the arguments.
METHOD=AttrVR
source "$(dirname "$0")/../common.sh"
eval_fewshot "$@"
