#!/usr/bin/env bash
# LPPlusPlus: see scripts/common.sh:eval_fewshot for the arguments.
METHOD=LPPlusPlus
source "$(dirname "$0")/../common.sh"
eval_fewshot "$@"
