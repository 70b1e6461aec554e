#!/usr/bin/env bash
# The base-to-novel table: train on base classes, test on new ones, 3 seeds, 11 datasets (the base2new
# grid of configs/sweeps/grids.yaml) through tools.sweep, then the table. Narrowed and passed on as in
# scripts/reproduce_table1.sh.
METHOD=base2new SWEEP_SEEDS=${SEEDS:-}
source "$(dirname "$0")/common.sh"
sweep_grid base2new "$@"
