#!/usr/bin/env bash
# ProGrad: see scripts/common.sh:eval_fewshot for the arguments.
METHOD=ProGrad
source "$(dirname "$0")/../common.sh"
eval_fewshot "$@"
