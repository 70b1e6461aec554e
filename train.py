"""Train and evaluate with the CoOp / BiomedCoOp command line: BioMedVR and its baselines on Dassl."""

from __future__ import annotations

import argparse

import torch
from dassl.config import get_cfg_default
from dassl.engine import TRAINER_REGISTRY, build_trainer
from dassl.utils import collect_env_info, set_random_seed, setup_logger

import datasets.biomed  # noqa: F401  (registers the eleven datasets)
import trainers.feature_baselines  # registers the feature-based baselines
import trainers.prompt_learning  # registers the prompt-learning trainers
import trainers.vr  # noqa: F401  (registers the VR trainers)
from datasets.atomic import NoSpaceError
from trainers.aliases import resolve_trainer_alias
from trainers.backbones import BackboneError, fetch_weights
from trainers.config import extend_cfg, fit_workers
from trainers.frozen_clip import TrainingDiverged
from trainers.run_files import RunFolderError, check_evaluation_folder, check_resume, write_config
from trainers.run_lock import RunLockedError, output_lock


def reset_cfg(cfg, args: argparse.Namespace) -> None:
    """Command-line flags override both config files, as in CoOp."""
    overrides = {
        "DATASET.ROOT": args.root,
        "OUTPUT_DIR": args.output_dir,
        "RESUME": args.resume,
        "TRAINER.NAME": args.trainer,
        "MODEL.BACKBONE.NAME": args.backbone,
        "MODEL.HEAD.NAME": args.head,
        "DATASET.SOURCE_DOMAINS": args.source_domains,
        "DATASET.TARGET_DOMAINS": args.target_domains,
        "INPUT.TRANSFORMS": args.transforms,
    }
    for key, value in overrides.items():
        if value:
            node, _, leaf = key.rpartition(".")
            target = cfg
            for part in filter(None, node.split(".")):
                target = target[part]
            target[leaf] = value
    if args.seed >= 0:
        cfg.SEED = args.seed


def is_registered(name: str) -> bool:
    try:
        TRAINER_REGISTRY.get(name)
    except KeyError:
        return False
    return True


def resolve_alias(cfg) -> None:
    """BiomedCoOp's trainer names (CoOp_BiomedCLIP, ...) -> our trainer and MODEL.BACKBONE.NAME."""
    trainer, backbone = resolve_trainer_alias(cfg.TRAINER.NAME, is_registered)
    if trainer == cfg.TRAINER.NAME:
        return
    cfg.TRAINER.NAME = trainer
    if backbone is not None:
        cfg.MODEL.BACKBONE.NAME = backbone
    print(f"Trainer alias: {trainer} with MODEL.BACKBONE.NAME {cfg.MODEL.BACKBONE.NAME}")


def setup_cfg(args: argparse.Namespace):
    """Dassl defaults + this project's keys, then dataset file, method file, flags, KEY VALUE pairs;
    BiomedCoOp's trainer names resolved last."""
    cfg = get_cfg_default()
    extend_cfg(cfg)
    if args.dataset_config_file:
        cfg.merge_from_file(args.dataset_config_file)
    if args.config_file:
        cfg.merge_from_file(args.config_file)
    reset_cfg(cfg, args)
    cfg.merge_from_list(args.opts)
    fit_workers(cfg)
    resolve_alias(cfg)
    cfg.freeze()
    return cfg


def main(args: argparse.Namespace) -> None:
    cfg = setup_cfg(args)
    try:  # before the run folder, the config dump and any data: a bad backbone ends the run at once
        fetch_weights(cfg.MODEL.BACKBONE.NAME, cfg.MODEL.BACKBONE.PRETRAINED)
    except BackboneError as error:
        raise SystemExit(f"error: {error}") from None
    try:
        with output_lock(cfg.OUTPUT_DIR):
            run(cfg, args)
    except (RunLockedError, RunFolderError, TrainingDiverged, NoSpaceError) as error:
        raise SystemExit(f"error: {error}") from None


def run(cfg, args: argparse.Namespace) -> None:
    """The run itself: log, config dump, trainer, then training or evaluation."""
    if args.eval_only:
        check_evaluation_folder(cfg.OUTPUT_DIR, args.model_dir)
    elif not args.no_train:
        check_resume(cfg.RESUME or cfg.OUTPUT_DIR, cfg)
    if cfg.SEED >= 0:
        print(f"Setting fixed seed: {cfg.SEED}")
        set_random_seed(cfg.SEED)
    setup_logger(cfg.OUTPUT_DIR)
    write_config(cfg.OUTPUT_DIR, cfg)
    if torch.cuda.is_available() and cfg.USE_CUDA:
        torch.backends.cudnn.benchmark = True
    print("** Arguments **")
    for key in sorted(vars(args)):
        print(f"{key}: {getattr(args, key)}")
    print("** Config **")
    print(cfg)
    print(f"** System info **\n{collect_env_info()}\n")

    trainer = build_trainer(cfg)
    if args.eval_only:
        trainer.load_model(args.model_dir, epoch=args.load_epoch)
        trainer.test()
        return
    if not args.no_train:
        trainer.train()


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--root", type=str, default="", help="path to the datasets")
    parser.add_argument("--output-dir", type=str, default="", help="output directory")
    parser.add_argument("--resume", type=str, default="", help="checkpoint directory to resume from")
    parser.add_argument("--seed", type=int, default=-1, help="a non-negative value fixes the seed")
    parser.add_argument("--source-domains", type=str, nargs="+", help="source domains (unused here)")
    parser.add_argument("--target-domains", type=str, nargs="+", help="target domains (unused here)")
    parser.add_argument("--transforms", type=str, nargs="+", help="data augmentation methods")
    parser.add_argument("--config-file", type=str, default="", help="method config file")
    parser.add_argument("--dataset-config-file", type=str, default="", help="dataset config file")
    parser.add_argument("--trainer", type=str, default="", help="trainer name, e.g. BioMedVR")
    parser.add_argument("--backbone", type=str, default="", help="backbone name, e.g. ViT-B/16")
    parser.add_argument("--head", type=str, default="", help="name of head (unused here)")
    parser.add_argument("--eval-only", action="store_true", help="evaluation only")
    parser.add_argument("--model-dir", type=str, default="", help="load the model from this directory")
    parser.add_argument("--load-epoch", type=int, help="load the checkpoint of this epoch")
    parser.add_argument("--no-train", action="store_true", help="do not call trainer.train()")
    parser.add_argument("opts", default=None, nargs=argparse.REMAINDER, help="KEY VALUE config overrides")
    return parser.parse_args(argv)


if __name__ == "__main__":
    main(parse_args())
