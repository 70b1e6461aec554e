#!/usr/bin/env bash
# VP: see scripts/common.sh:eval_fewshot for the arguments.
METHOD=VP
source "$(dirname "$0")/../common.sh"
eval_fewshot "$@"
