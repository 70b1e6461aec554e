#!/usr/bin/env bash
# CoOp: see scripts/common.sh:eval_fewshot for the arguments.
METHOD=CoOp
source "$(dirname "$0")/../common.sh"
eval_fewshot "$@"
