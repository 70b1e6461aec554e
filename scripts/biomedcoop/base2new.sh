#!/usr/bin/env bash
# BiomedCoOp: see scripts/common.sh:base2new for the arguments.
METHOD=BiomedCoOp
ZERO_SHOT_SCRIPT=scripts/zeroshot/zero_shot.sh
FOLDER_KEYS="TRAINER.BIOMEDCOOP.PROMPTS=biomedcoop"
source "$(dirname "$0")/../common.sh"
base2new "$@"
