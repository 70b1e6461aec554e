#!/usr/bin/env bash
# Table 1: every method on the 11 datasets, 3 seeds, 16 shots (the table1 grid of
# configs/sweeps/grids.yaml) through tools.sweep, then the table. Needs a GPU and the data (DATA,
# default data; missing datasets are downloaded). METHODS, DATASETS, BACKBONE, SHOTS and SEEDS narrow
# it, e.g. METHODS="BioMedVR CoOp" DATASETS="btmri busi" bash scripts/reproduce_table1.sh; arguments go
# to tools.sweep, e.g. --executor slurm --partition gpu, or --gpus 0,1 --per-gpu 2, or --dry-run.
# METHODS may add BiomedCoOp's benchmark rows (LinearProbe LPPlusPlus CLIP_Adapter TipAdapter
# TipAdapter_F, KgCoOp ProGrad), which run on BiomedCLIP as in its benchmark.
METHOD=table1 SWEEP_SEEDS=${SEEDS:-}
source "$(dirname "$0")/common.sh"
sweep_grid table1 "$@"
