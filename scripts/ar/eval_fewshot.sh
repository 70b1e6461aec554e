#!/usr/bin/env bash
# AR: see scripts/common.sh:eval_fewshot for the arguments.
METHOD=AR
source "$(dirname "$0")/../common.sh"
eval_fewshot "$@"
