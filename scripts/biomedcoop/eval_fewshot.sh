#!/usr/bin/env bash
# BiomedCoOp: see scripts/common.sh:eval_fewshot for the arguments.
METHOD=BiomedCoOp
# Runs with another prompt ensemble than BiomedCoOp's own get their own folder (BiomedCoOp_curated, ...).
FOLDER_KEYS=TRAINER.BIOMEDCOOP.PROMPTS=biomedcoop
source "$(dirname "$0")/../common.sh"
eval_fewshot "$@"
