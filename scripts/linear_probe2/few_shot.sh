#!/usr/bin/env bash
# BiomedCoOp's folder name for LP++ (its LinearProbe_P2): the same as scripts/lp_plus_plus/few_shot.sh.
exec bash "$(dirname "$0")/../lp_plus_plus/few_shot.sh" "$@"
