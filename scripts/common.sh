#!/usr/bin/env bash
# Shared logic of the method scripts (scripts/<method>/*.sh, written by `python -m trainers.methods scripts`
# from the method table), which set METHOD (and ZERO_SHOT_SCRIPT, where SHOTS 0 is sent) and call one
# function.
# Environment: DATA (dataset root, default data), OUTPUT (default output), SEEDS (default "1 2 3"),
# PYTHON (default python3), PRESET (few_shot.sh: configs/trainers/<METHOD>/<PRESET>.yaml instead of
# the dataset's few-shot file (method_config below), results under <METHOD>_<PRESET>; e.g.
# reference_code), OVERWRITE=1 (replace runs made with other settings). Arguments after the backbone
# are passed to train.py as KEY VALUE overrides; an argument like OPTIM.MAX_EPOCH where the backbone
# would be is an override. Every script takes --help.
# BiomedCoOp's argument order works too: DATA DATASET [SHOTS] MODEL (see from_biomedcoop_order).
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
    PubMedCLIP) echo pubmedclip ;;
    PMC-CLIP) echo pmcclip ;;
    *) basename "$1" | sed -e 's/\.[^.]*$//' -e 's#[/:]#_#g' | tr '[:upper:]' '[:lower:]' ;;
  esac
}

die() {
  echo "[$METHOD] $*" >&2
  exit 1
}

# The usage of a script: its arguments, the dataset names, the environment.
usage() {
  cat <<EOF
usage: bash $0 $1
  DATASET   a config name: $("$PY" -m datasets.catalog names)
  BACKBONE  ViT-B/16 (default), ViT-B/32, RN50, BiomedCLIP, PubMedCLIP, PMC-CLIP or any open_clip name
  KEY VALUE config overrides passed to train.py, e.g. OPTIM.MAX_EPOCH 10
BiomedCoOp's order also works: DATA DATASET [SHOTS] MODEL, MODEL one of CLIP (ViT-B/16), BiomedCLIP,
  PubMedCLIP, PMCCLIP (e.g. bash scripts/coop/few_shot.sh data btmri 16 BiomedCLIP)
environment: DATA (dataset root, default data), OUTPUT (default output), SEEDS (default "1 2 3"),
             PYTHON (default python3), PRESET (few_shot.sh: e.g. reference_code), OVERWRITE=1
EOF
  exit 0
}

# True when --help or -h is among the arguments.
wants_help() { [[ " $* " =~ \ (-h|--help)\  ]]; }

# An argument of the form KEY.NAME (upper-case, dotted) is a config override, never a backbone.
is_override() { [[ $1 =~ ^[A-Z][A-Z0-9_]*(\.[A-Z0-9_]+)+$ ]]; }

# A lower- or mixed-case dotted word (optim.max_epoch) that is no file: a mistyped config override.
is_mistyped_override() { [[ ! -e $1 && ! $1 =~ ^[A-Z0-9_.]+$ && ${1^^} =~ ^[A-Z][A-Z0-9_]*(\.[A-Z0-9_]+)+$ ]]; }

# Set-up on a fresh machine: install missing requirements (Dassl included) once with scripts/setup.sh.
ensure_environment() {
  local missing
  if ! missing=$("$PY" scripts/check_env.py all); then
    echo "[$METHOD] some requirements are missing (${missing#missing: }): running scripts/setup.sh"
    bash scripts/setup.sh
  fi
  if ! missing=$("$PY" scripts/check_env.py dassl); then
    die "Dassl is still not installed after scripts/setup.sh (${missing#missing: }): set DASSL_GIT to a" \
      "Dassl.pytorch clone or wheel and run 'bash scripts/setup.sh' (README: Install)"
  fi
}

# SHOTS of a few-shot script: a whole number of at least 1.
check_shots() {
  [[ $1 =~ ^[0-9]+$ ]] || die "SHOTS must be a whole number of images per class, got '$1'"
  if [ "$1" -lt 1 ]; then
    die "SHOTS 0 is zero-shot, which $(basename "$0") does not do: use $ZERO_SHOT_SCRIPT DATASET [BACKBONE]"
  fi
}

# The backbone of one of BiomedCoOp's model names (the last argument of its scripts); fails for others.
biomedcoop_backbone() {
  case "$1" in
    CLIP) echo ViT-B/16 ;;
    PMCCLIP) echo PMC-CLIP ;;
    BiomedCLIP | PubMedCLIP) echo "$1" ;;
    *) return 1 ;;
  esac
}

# from_biomedcoop_order WITH_SHOTS ARGS...: BiomedCoOp's command line DATA DATASET [SHOTS] MODEL (exactly
# these, SHOTS a number, MODEL one of its names) sets DATA and gives ours, DATASET [SHOTS] BACKBONE, in
# ARGS; any other command line is ours and comes back unchanged. Ours never has this shape: its third
# argument with shots would be a backbone or an override key, and without shots an override key.
from_biomedcoop_order() {
  local with_shots=$1 backbone
  shift
  ARGS=("$@")
  (($# == 3 + with_shots)) && ! is_override "$2" || return 0
  ((with_shots)) && ! [[ $3 =~ ^[0-9]+$ ]] && return 0
  backbone=$(biomedcoop_backbone "${!#}") || return 0
  DATA=$1
  ARGS=("${@:2:$#-2}" "$backbone")
}

# parse USAGE WITH_SHOTS ARGS...: the arguments of a script, then its set-up. Sets CONFIG and, unless
# planning, FOLDER (the dataset's names), SHOTS_ARG (WITH_SHOTS 1), BACKBONE, TAG (its folder name)
# and OVERRIDES.
parse() {
  local usage_line=$1 with_shots=$2
  shift 2
  if wants_help "$@"; then usage "$usage_line"; fi
  from_biomedcoop_order "$with_shots" "$@"
  set -- "${ARGS[@]}"
  (($# >= 1 + with_shots)) || die "usage: bash $0 $usage_line (--help for more)"
  local dataset=$1
  shift
  if ((with_shots)); then
    SHOTS_ARG=$1
    shift
    check_shots "$SHOTS_ARG"
  fi
  BACKBONE=ViT-B/16
  local arg
  for arg in "$@"; do
    if is_mistyped_override "$arg"; then
      die "'$arg' looks like a config key: keys are upper-case (${arg^^}), after the backbone if any"
    fi
  done
  if (($# > 0)) && ! is_override "$1"; then
    BACKBONE=$1
    shift
  fi
  (($# % 2 == 0)) || die "overrides come in KEY VALUE pairs, got $#: $*"
  OVERRIDES=("$@")
  variant_suffix
  if [ -n "${SWEEP_PLAN:-}" ] && [ -f "configs/datasets/$dataset.yaml" ]; then
    CONFIG=$dataset # a config name the sweep has checked: planning starts no Python
  else
    CONFIG=$("$PY" -m datasets.catalog config "$dataset") || exit 2
  fi
  if [ -z "${SWEEP_PLAN:-}" ]; then
    FOLDER=$("$PY" -m datasets.catalog folder "$dataset")
    ensure_environment
    local split
    split=$("$PY" -m datasets.catalog split "$dataset")
    if [ ! -f "$DATA/$split" ]; then
      echo "[$METHOD] $DATA/$split is missing: downloading $FOLDER into $DATA"
      "$PY" -m datasets.download "$FOLDER" --root "$DATA"
    fi
  fi
  TAG=$(backbone_tag "$BACKBONE")
}

# SUFFIX: "_<value>" for each FOLDER_KEYS entry KEY=DEFAULT (set by a method script, from its row's
# folder_keys in trainers/methods.py) that the overrides
# set to another value, so that runs with another choice get their own results folder (e.g.
# BiomedCoOp_curated for TRAINER.BIOMEDCOOP.PROMPTS curated). A path counts by its file name.
variant_suffix() {
  SUFFIX=""
  local entry key default i value
  for entry in ${FOLDER_KEYS:-}; do
    key=${entry%%=*} default=${entry#*=}
    for ((i = 0; i + 1 < ${#OVERRIDES[@]}; i += 2)); do
      [ "${OVERRIDES[i]}" = "$key" ] || continue
      value=${OVERRIDES[i + 1]}
      [ "$value" = "$default" ] && continue
      value=$(basename "$value" | sed -e 's/\.[^.]*$//' -e 's/[^A-Za-z0-9]/_/g' | tr '[:upper:]' '[:lower:]')
      SUFFIX+="_$value"
    done
  done
}

# method_config PROTOCOL: the method's config file for the dataset CONFIG, as BiomedCoOp's scripts pick
# it: configs/trainers/<METHOD>/<PROTOCOL>/<CONFIG>.yaml when the method has one for that dataset, else
# configs/trainers/<METHOD>/<PROTOCOL>.yaml.
method_config() {
  local own="configs/trainers/$METHOD/$1/$CONFIG.yaml"
  if [ -f "$own" ]; then echo "$own"; else echo "configs/trainers/$METHOD/$1.yaml"; fi
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
  parse "DATASET SHOTS [BACKBONE] [KEY VALUE ...]" 1 "$@"
  local config folder="$METHOD$SUFFIX${PRESET:+_$PRESET}"
  config=$(method_config few_shot)
  [ -z "${PRESET:-}" ] || config="configs/trainers/$METHOD/$PRESET.yaml"
  [ -f "$config" ] || die "no preset '$PRESET' for $METHOD: no $config"
  local experiment="$OUTPUT/$CONFIG/shots_$SHOTS_ARG/$folder/$TAG"
  for seed in $SEEDS; do
    run_seed "$experiment/seed$seed" --seed "$seed" --trainer "$METHOD" \
      --dataset-config-file "configs/datasets/$CONFIG.yaml" --config-file "$config" \
      MODEL.BACKBONE.NAME "$BACKBONE" DATASET.NUM_SHOTS "$SHOTS_ARG" "${OVERRIDES[@]}"
  done
  report "$experiment"
}

# The metrics of a seed-independent evaluation recorded under another seed (trainers/run_files.py).
record_for_seed() {
  "$PY" -c 'import sys; from trainers.run_files import record_for_seed; record_for_seed(*sys.argv[1:])' "$@"
}

# zero_shot.sh DATASET [BACKBONE] [KEY VALUE ...]: evaluation only, written under shots_0.
# Nothing in it depends on the seed: the first seed runs and its metrics are recorded for the others.
zero_shot() {
  parse "DATASET [BACKBONE] [KEY VALUE ...]" 0 "$@"
  local experiment="$OUTPUT/$CONFIG/shots_0/$METHOD/$TAG" seeds
  read -r -a seeds <<<"$SEEDS"
  local first="$experiment/seed${seeds[0]}"
  run_seed "$first" --seed "${seeds[0]}" --trainer "$METHOD" --eval-only \
    --dataset-config-file "configs/datasets/$CONFIG.yaml" \
    --config-file "configs/trainers/$METHOD/zero_shot.yaml" \
    MODEL.BACKBONE.NAME "$BACKBONE" "${OVERRIDES[@]}"
  for seed in "${seeds[@]:1}"; do
    if [ -n "${SWEEP_PLAN:-}" ]; then
      printf 'record\0%s\0%s\0%s\n' "$first" "$experiment/seed$seed" "$seed"
    elif [ ! -f "$experiment/seed$seed/metrics.json" ]; then
      echo "[$METHOD] seed $seed: the evaluation does not depend on the seed; recording seed ${seeds[0]}'s"
      record_for_seed "$first" "$experiment/seed$seed" "$seed"
    fi
  done
  report "$experiment"
}

# base2new.sh DATASET [BACKBONE] [KEY VALUE ...]: train on base classes, evaluate on new classes.
base2new() {
  local shots=${SHOTS:-16}
  parse "DATASET [BACKBONE] [KEY VALUE ...]   (SHOTS, default 16, in the environment)" 0 "$@"
  check_shots "$shots"
  local common="$CONFIG/shots_$shots/$METHOD$SUFFIX/$TAG"
  local args=(--trainer "$METHOD" --dataset-config-file "configs/datasets/$CONFIG.yaml"
    --config-file "$(method_config base_to_novel)"
    MODEL.BACKBONE.NAME "$BACKBONE" DATASET.NUM_SHOTS "$shots")
  for seed in $SEEDS; do
    local train_dir="$OUTPUT/base2new/train_base/$common/seed$seed"
    run_seed "$train_dir" --seed "$seed" "${args[@]}" DATASET.SUBSAMPLE_CLASSES base "${OVERRIDES[@]}"
    run_seed "$OUTPUT/base2new/test_new/$common/seed$seed" --seed "$seed" --eval-only \
      --model-dir "$train_dir" "${args[@]}" DATASET.SUBSAMPLE_CLASSES new "${OVERRIDES[@]}"
  done
  report "$OUTPUT/base2new/train_base/$common" --harmonic-with \
    "$OUTPUT/base2new/test_new/$common"
}

# eval_fewshot.sh DATASET SHOTS [BACKBONE] [KEY VALUE ...]: re-evaluate saved parameters.
# MODEL_ROOT (default $OUTPUT) holds the trained runs; results go to output_eval/. BiomedCoOp's
# eval_fewshot.sh DATA DATASET SHOTS evaluates BiomedCLIP runs: DATA DATASET SHOTS BiomedCLIP here.
eval_fewshot() {
  if (($# == 3)) && [[ $3 =~ ^[0-9]+$ ]] && ! [[ $2 =~ ^[0-9]+$ ]]; then set -- "$@" BiomedCLIP; fi
  parse "DATASET SHOTS [BACKBONE] [KEY VALUE ...]   (MODEL_ROOT, EVAL_OUTPUT in the environment)" 1 "$@"
  local common="$CONFIG/shots_$SHOTS_ARG/$METHOD$SUFFIX/$TAG"
  for seed in $SEEDS; do
    local model_dir="${MODEL_ROOT:-$OUTPUT}/$common/seed$seed"
    [ -d "$model_dir" ] || die "no trained run at $model_dir"
    run_seed "${EVAL_OUTPUT:-output_eval}/$common/seed$seed" --seed "$seed" --trainer "$METHOD" --eval-only \
      --model-dir "$model_dir" --dataset-config-file "configs/datasets/$CONFIG.yaml" \
      --config-file "$(method_config few_shot)" \
      MODEL.BACKBONE.NAME "$BACKBONE" DATASET.NUM_SHOTS "$SHOTS_ARG" "${OVERRIDES[@]}"
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
