#!/usr/bin/env bash
# Shared logic of the method scripts (scripts/<method>/*.sh), which set METHOD and call one function.
# Environment: DATA (dataset root, default data), OUTPUT (default output), SEEDS (default "1 2 3"),
# PYTHON (default python3), PRESET (few_shot.sh: configs/trainers/<METHOD>/<PRESET>.yaml instead of
# few_shot.yaml, results under <METHOD>_<PRESET>; e.g. reference_code), OVERWRITE=1 (replace runs made
# with other settings). Arguments after the backbone are passed to train.py as KEY VALUE overrides.
# SWEEP_PLAN=1 (tools/sweep_grid.py) prints each train.py call instead of running it, so a sweep runs
# exactly what the scripts run.
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$REPO"
PY=${PYTHON:-python3}
DATA=${DATA:-data}
OUTPUT=${OUTPUT:-output}
SEEDS=${SEEDS:-"1 2 3"}

# The folder name of a backbone, as trainers/backbones.py:backbone_tag computes it.
backbone_tag() {
  case "$1" in
    ViT-B/16) echo vit_b16 ;;
    ViT-B/32) echo vit_b32 ;;
    RN50) echo rn50 ;;
    BiomedCLIP) echo biomedclip ;;
    *) basename "$1" | sed -e 's/\.[^.]*$//' -e 's#[/:]#_#g' | tr '[:upper:]' '[:lower:]' ;;
  esac
}

# Set-up on a fresh machine: install what is missing, and stop if Dassl cannot be had.
ensure_environment() {
  if ! "$PY" scripts/check_env.py --quiet all; then
    echo "[$METHOD] some dependencies are missing: running scripts/setup.sh"
    bash scripts/setup.sh
  fi
  if ! "$PY" scripts/check_env.py --quiet dassl; then
    echo "[$METHOD] Dassl is not installed and could not be installed: see scripts/setup.sh" >&2
    exit 1
  fi
}

# The dataset's registry name (folder) from its config file; download it when it is not there.
ensure_dataset() {
  local config="configs/datasets/$1.yaml"
  [ -f "$config" ] || { echo "unknown dataset '$1': no $config" >&2; exit 1; }
  FOLDER=$(sed -n 's/^ *NAME: *"\{0,1\}\([^"]*\)"\{0,1\} *$/\1/p' "$config" | head -n 1)
  if [ ! -f "$DATA/$FOLDER/split_$FOLDER.json" ]; then
    echo "[$METHOD] $DATA/$FOLDER is missing: downloading $FOLDER into $DATA"
    "$PY" -m datasets.download "$FOLDER" --root "$DATA"
  fi
}

# Everything a job needs before its first run: environment, dataset, and TAG, the backbone's folder name.
prepare() {
  if [ -z "${SWEEP_PLAN:-}" ]; then
    ensure_environment
    ensure_dataset "$1"
  fi
  TAG=$(backbone_tag "$2")
}

# train.py for one seed, as tools/run_status.py decides: skipped when a run with the same config
# finished there, resumed when it was interrupted, refused (naming the keys) when the run there had
# other settings, unless OVERWRITE=1.
run_seed() {
  local dir=$1; shift
  local args=(--root "$DATA" --output-dir "$dir" "$@") state=0
  if [ -n "${SWEEP_PLAN:-}" ]; then
    printf 'train.py'; printf '\0%s' "${args[@]}"; printf '\n'
    return
  fi
  local overwrite=()
  [ "${OVERWRITE:-0}" = 1 ] && overwrite=(--overwrite)
  "$PY" -m tools.run_status "${overwrite[@]}" -- "${args[@]}" || state=$?
  case $state in
    0) "$PY" train.py "${args[@]}" ;;
    3) ;;
    *) exit "$state" ;;
  esac
}

# The mean ± std of an experiment's seeds (nothing in a sweep's plan).
report() {
  [ -n "${SWEEP_PLAN:-}" ] || "$PY" -m tools.parse_test_res "$@"
}

# few_shot.sh DATASET SHOTS [BACKBONE] [KEY VALUE ...]
few_shot() {
  local dataset=${1:?usage: few_shot.sh DATASET SHOTS [BACKBONE] [KEY VALUE ...]} shots=${2:?SHOTS missing}
  local backbone=${3:-ViT-B/16}
  shift $(($# < 3 ? $# : 3))
  prepare "$dataset" "$backbone"
  local config="configs/trainers/$METHOD/${PRESET:-few_shot}.yaml" folder="$METHOD${PRESET:+_$PRESET}"
  [ -f "$config" ] || { echo "[$METHOD] no preset '$PRESET' for $METHOD: no $config" >&2; exit 1; }
  local experiment="$OUTPUT/$dataset/shots_$shots/$folder/$TAG"
  for seed in $SEEDS; do
    run_seed "$experiment/seed$seed" --seed "$seed" --trainer "$METHOD" \
      --dataset-config-file "configs/datasets/$dataset.yaml" --config-file "$config" \
      MODEL.BACKBONE.NAME "$backbone" DATASET.NUM_SHOTS "$shots" "$@"
  done
  report "$experiment"
}

# zero_shot.sh DATASET [BACKBONE] [KEY VALUE ...]: evaluation only, written under shots_0.
zero_shot() {
  local dataset=${1:?usage: zero_shot.sh DATASET [BACKBONE] [KEY VALUE ...]} backbone=${2:-ViT-B/16}
  shift $(($# < 2 ? $# : 2))
  prepare "$dataset" "$backbone"
  local experiment="$OUTPUT/$dataset/shots_0/$METHOD/$TAG"
  for seed in $SEEDS; do
    run_seed "$experiment/seed$seed" --seed "$seed" --trainer "$METHOD" --eval-only \
      --dataset-config-file "configs/datasets/$dataset.yaml" \
      --config-file "configs/trainers/$METHOD/zero_shot.yaml" \
      MODEL.BACKBONE.NAME "$backbone" "$@"
  done
  report "$experiment"
}

# base2new.sh DATASET [BACKBONE] [KEY VALUE ...]: train on base classes, evaluate on new classes.
base2new() {
  local dataset=${1:?usage: base2new.sh DATASET [BACKBONE] [KEY VALUE ...]} backbone=${2:-ViT-B/16}
  shift $(($# < 2 ? $# : 2))
  prepare "$dataset" "$backbone"
  local shots=${SHOTS:-16}
  local common="$dataset/shots_$shots/$METHOD/$TAG"
  local args=(--trainer "$METHOD" --dataset-config-file "configs/datasets/$dataset.yaml"
    --config-file "configs/trainers/$METHOD/base_to_novel.yaml"
    MODEL.BACKBONE.NAME "$backbone" DATASET.NUM_SHOTS "$shots")
  for seed in $SEEDS; do
    local train_dir="$OUTPUT/base2new/train_base/$common/seed$seed"
    run_seed "$train_dir" --seed "$seed" "${args[@]}" DATASET.SUBSAMPLE_CLASSES base "$@"
    run_seed "$OUTPUT/base2new/test_new/$common/seed$seed" --seed "$seed" --eval-only \
      --model-dir "$train_dir" "${args[@]}" DATASET.SUBSAMPLE_CLASSES new "$@"
  done
  report "$OUTPUT/base2new/train_base/$common" --harmonic-with \
    "$OUTPUT/base2new/test_new/$common"
}

# eval_fewshot.sh DATASET SHOTS [BACKBONE] [KEY VALUE ...]: re-evaluate saved parameters.
# MODEL_ROOT (default $OUTPUT) holds the trained runs; results go to output_eval/.
eval_fewshot() {
  local dataset=${1:?usage: eval_fewshot.sh DATASET SHOTS [BACKBONE] [KEY VALUE ...]} shots=${2:?SHOTS missing}
  local backbone=${3:-ViT-B/16}
  shift $(($# < 3 ? $# : 3))
  prepare "$dataset" "$backbone"
  local common="$dataset/shots_$shots/$METHOD/$TAG"
  for seed in $SEEDS; do
    local model_dir="${MODEL_ROOT:-$OUTPUT}/$common/seed$seed"
    [ -d "$model_dir" ] || { echo "[$METHOD] no trained run at $model_dir" >&2; exit 1; }
    run_seed "${EVAL_OUTPUT:-output_eval}/$common/seed$seed" --seed "$seed" --trainer "$METHOD" --eval-only \
      --model-dir "$model_dir" --dataset-config-file "configs/datasets/$dataset.yaml" \
      --config-file "configs/trainers/$METHOD/few_shot.yaml" \
      MODEL.BACKBONE.NAME "$backbone" DATASET.NUM_SHOTS "$shots" "$@"
  done
  report "${EVAL_OUTPUT:-output_eval}/$common"
}

# reproduce_*.sh GRID [tools.sweep flags]: a named grid of configs/sweeps/grids.yaml through tools.sweep,
# narrowed by METHODS, DATASETS, BACKBONE, SHOTS and SWEEP_SEEDS (the caller's SEEDS, if it set them).
sweep_grid() {
  local args=(--grid "$1" --data "$DATA" --output "$OUTPUT"); shift
  ensure_environment
  if [ -n "${METHODS:-}" ]; then args+=(--methods $METHODS); fi
  if [ -n "${DATASETS:-}" ]; then args+=(--datasets $DATASETS); fi
  if [ -n "${BACKBONE:-}" ]; then args+=(--backbones "$BACKBONE"); fi
  if [ -n "${SHOTS:-}" ]; then args+=(--shots $SHOTS); fi
  if [ -n "${SWEEP_SEEDS:-}" ]; then args+=(--seeds $SWEEP_SEEDS); fi
  if [ "${OVERWRITE:-0}" = 1 ]; then args+=(--overwrite); fi
  "$PY" -m tools.sweep "${args[@]}" "$@"
}
