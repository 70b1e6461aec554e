#!/usr/bin/env bash
# BiomedCoOp: see scripts/common.sh:eval_fewshot for the arguments.
METHOD=BiomedCoOp
source "$(dirname "$0")/../common.sh"
eval_fewshot "$@"
