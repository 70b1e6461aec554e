#!/usr/bin/env bash
# KgCoOp: see scripts/common.sh:eval_fewshot for the arguments.
METHOD=KgCoOp
source "$(dirname "$0")/../common.sh"
eval_fewshot "$@"
