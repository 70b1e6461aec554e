#!/usr/bin/env bash
# TipAdapter: see scripts/common.sh:eval_fewshot for the arguments.
METHOD=TipAdapter
source "$(dirname "$0")/../common.sh"
eval_fewshot "$@"
