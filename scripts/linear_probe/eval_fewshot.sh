#!/usr/bin/env bash
# LinearProbe: see scripts/common.sh:eval_fewshot for the arguments.
METHOD=LinearProbe
source "$(dirname "$0")/../common.sh"
eval_fewshot "$@"
