#!/usr/bin/env bash
# Table 3: AR, VP, AttrVR and BioMedVR (16 shots) and zero-shot CLIP and BioMedVR (ZS) on the seven
# natural-image datasets (CoOp's splits), 3 seeds, ViT-B/16: the table3 grid of configs/sweeps/grids.yaml
# through tools.sweep, then the table (python -m tools.results OUTPUT shows it as Table 3). Needs a GPU
# and the data (DATA, default data; missing datasets are downloaded). METHODS, DATASETS, BACKBONE, SHOTS
# and SEEDS narrow it, e.g. DATASETS="oxford_pets dtd" bash scripts/reproduce_table3.sh; arguments go to
# tools.sweep, e.g. --executor slurm --partition gpu, or --gpus 0,1 --per-gpu 2, or --dry-run.
METHOD=table3 SWEEP_SEEDS=${SEEDS:-}
source "$(dirname "$0")/common.sh"
sweep_grid table3 "$@"
