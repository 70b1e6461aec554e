#!/usr/bin/env bash
# BiomedCoOp: see scripts/common.sh:base2new for the arguments.
METHOD=BiomedCoOp
# Runs with another prompt ensemble than BiomedCoOp's own get their own folder (BiomedCoOp_curated, ...).
FOLDER_KEYS=TRAINER.BIOMEDCOOP.PROMPTS=biomedcoop
source "$(dirname "$0")/../common.sh"
base2new "$@"
