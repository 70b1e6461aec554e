#!/usr/bin/env bash
# CoCoOp: see scripts/common.sh:eval_fewshot for the arguments.
METHOD=CoCoOp
source "$(dirname "$0")/../common.sh"
eval_fewshot "$@"
