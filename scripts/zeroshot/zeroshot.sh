#!/usr/bin/env bash
# BiomedCoOp's name of the zero-shot script: the same as scripts/zeroshot/zero_shot.sh.
exec bash "$(dirname "$0")/zero_shot.sh" "$@"
