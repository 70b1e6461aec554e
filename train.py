"""Train and evaluate with the CoOp / BiomedCoOp command line: BioMedVR and its baselines on Dassl."""

from __future__ import annotations

import argparse
import difflib
import os
import re
import sys
import traceback

import torch
import yaml
from dassl.config import get_cfg_default
from dassl.engine import TRAINER_REGISTRY, build_trainer
from dassl.utils import collect_env_info, set_random_seed, setup_logger

import datasets.biomed  # noqa: F401  (registers the eleven datasets)
from datasets.atomic import NoSpaceError
from trainers.aliases import feature_file_error, resolve_trainer_alias
from trainers.backbones import BackboneError, fetch_weights
from trainers.config import ConfigError, check_ranges, extend_cfg, fit_workers, merge_file, merge_pairs
from trainers.frozen_clip import TrainingDiverged
from trainers.methods import BY_NAME, METHODS, ZERO_SHOT, import_trainers
from trainers.run_files import write_config
from trainers.run_folder import RunFolderError, check_evaluation_folder, check_resume
from trainers.run_lock import RunLockedError, output_lock

import_trainers()  # registers every trainer of the method table


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


# numpy's seeds (Dassl's set_random_seed seeds numpy too) lie in [0, 2**32 - 1].
MAX_SEED = 2**32 - 1
DEBUG_ENV = "BIOMEDVR_DEBUG"


def our_trainers() -> list[str]:
    """This project's trainers (the method table), not Dassl's domain-adaptation ones."""
    return sorted(method.name for method in METHODS)


def check_trainer(name: str) -> None:
    if not is_registered(name) or name not in our_trainers():
        close = difflib.get_close_matches(name, our_trainers(), n=1, cutoff=0.5)
        hint = f" (did you mean {close[0]}?)" if close else ""
        raise ConfigError(
            f"--trainer / TRAINER.NAME: unknown trainer {name!r}{hint}; this project's trainers: "
            f"{', '.join(our_trainers())}"
        )


def check_args(args: argparse.Namespace) -> None:
    """The flags' values, before any work."""
    if not -1 <= args.seed <= MAX_SEED:
        raise ConfigError(
            f"--seed {args.seed} is outside numpy's seed range: give 0 to {MAX_SEED} (-1: no seed)"
        )
    if args.load_epoch is not None and args.load_epoch < 1:
        raise ConfigError(f"--load-epoch must be at least 1, got {args.load_epoch}")
    for flag, path in (
        ("--config-file", args.config_file),
        ("--dataset-config-file", args.dataset_config_file),
    ):
        if path and not os.path.isfile(path):
            raise ConfigError(f"{flag} {path} does not exist: give the path of a YAML file (see configs/)")


def check_not_feature_file(path: str) -> None:
    """Stop with one line when ``path`` is one of BiomedCoOp's feature-baseline files (not Dassl's);
    a file that is not YAML is left to ``merge_file``, which names its line."""
    try:
        with open(path) as file:
            message = feature_file_error(yaml.safe_load(file), path)
    except yaml.YAMLError:
        return
    if message:
        raise SystemExit(f"error: {message}")


def setup_cfg(args: argparse.Namespace):
    """Dassl defaults + this project's keys, then dataset file, method file, flags, KEY VALUE pairs;
    BiomedCoOp's trainer names resolved last; every value checked before any work."""
    check_args(args)
    cfg = get_cfg_default()
    extend_cfg(cfg)
    if args.dataset_config_file:
        merge_file(cfg, args.dataset_config_file)
    if args.config_file:
        check_not_feature_file(args.config_file)
        merge_file(cfg, args.config_file)
    reset_cfg(cfg, args)
    merge_pairs(cfg, args.opts)
    fit_workers(cfg)
    resolve_alias(cfg)
    check_trainer(cfg.TRAINER.NAME)
    check_ranges(cfg)
    cfg.freeze()
    return cfg


def main(args: argparse.Namespace) -> None:
    cfg = setup_cfg(args)
    if args.eval_only and args.model_dir and not os.path.isdir(args.model_dir):  # not in setup_cfg: a
        # sweep builds the config of a base-to-novel test step before its training step has run
        raise ConfigError(f"--model-dir {args.model_dir} does not exist: give the folder of a trained run")
    if args.eval_only and not args.model_dir and ZERO_SHOT not in BY_NAME[cfg.TRAINER.NAME].protocols:
        raise ConfigError(
            f"--eval-only with {cfg.TRAINER.NAME} needs --model-dir, the folder of a trained run (without it "
            "an untrained model would be evaluated and recorded); only zero-shot trainers need none"
        )
    try:  # before the run folder, the config dump and any data: a bad backbone ends the run at once
        fetch_weights(cfg.MODEL.BACKBONE.NAME, cfg.MODEL.BACKBONE.PRETRAINED)
    except BackboneError as error:
        raise SystemExit(f"error: {error}") from None
    try:
        with output_lock(cfg.OUTPUT_DIR):
            run(cfg, args)
    except (RunLockedError, RunFolderError, TrainingDiverged, NoSpaceError) as error:
        raise SystemExit(f"error: {error}") from None


def to_log(lines: list[str]) -> None:
    """Lines for the run's log.txt only (the arguments, config and environment), not the screen."""
    log = getattr(sys.stdout, "file", None)
    target = log if log is not None else sys.stdout
    target.write("\n".join(lines) + "\n")


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
    to_log(["** Arguments **", *(f"{key}: {getattr(args, key)}" for key in sorted(vars(args)))])
    to_log(["** Config **", str(cfg), f"** System info **\n{collect_env_info()}\n"])

    trainer = build_trainer(cfg)
    if args.eval_only:
        trainer.load_model(args.model_dir, epoch=args.load_epoch)
        trainer.test()
        return
    if not args.no_train:
        trainer.train()


OVERRIDE_KEY = re.compile(r"[A-Z][A-Z0-9_]*(\.[A-Z0-9_]+)+")


def flags_among_overrides(parser: argparse.ArgumentParser, opts: list[str]) -> tuple[list[str], list[str]]:
    """Split the trailing arguments into flags (placed after KEY VALUE pairs) and the pairs themselves."""
    flags, pairs, index = [], [], 0
    while index < len(opts):
        token = opts[index]
        if not token.startswith("--"):
            pairs.append(token)
            if index + 1 < len(opts) and OVERRIDE_KEY.fullmatch(token):
                pairs.append(opts[index + 1])
                index += 1
            index += 1
            continue
        action = parser._option_string_actions.get(token.split("=")[0])
        if action is None:
            known = [option for option in parser._option_string_actions if option.startswith("--")]
            close = difflib.get_close_matches(token, known, n=1)
            hint = f" (did you mean {close[0]}?)" if close else ""
            raise ConfigError(f"unknown flag {token} among the KEY VALUE overrides{hint}; see --help")
        flags.append(token)
        index += 1
        takes = 0 if action.nargs == 0 or "=" in token else (None if action.nargs == "+" else 1)
        while index < len(opts) and (takes is None or takes > 0):
            if opts[index].startswith("--") or (takes is None and OVERRIDE_KEY.fullmatch(opts[index])):
                break
            flags.append(opts[index])
            index += 1
            takes = None if takes is None else takes - 1
    return flags, pairs


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
    parser.add_argument(
        "--debug", action="store_true", help=f"show the traceback of an error (or set {DEBUG_ENV}=1)"
    )
    parser.add_argument("opts", default=None, nargs=argparse.REMAINDER, help="KEY VALUE config overrides")
    args = parser.parse_args(argv)
    if any(token.startswith("--") for token in args.opts):
        try:
            flags, pairs = flags_among_overrides(parser, args.opts)
        except ConfigError as error:
            parser.error(str(error))
        args = parser.parse_args([*(argv if argv is not None else sys.argv[1:])[: -len(args.opts)], *flags])
        args.opts = pairs
    return args


def log_traceback() -> str:
    """Write the traceback of the exception being handled into the run's log.txt, if one is open;
    returns the log's path ("" when none is open)."""
    log = getattr(sys.stdout, "file", None)
    if log is None or log.closed:
        return ""
    log.write(traceback.format_exc())
    log.flush()
    return log.name


def one_line(error: BaseException) -> str:
    """``error: ...``: the message of an exception on one line (a KeyError's quotes removed)."""
    text = error.args[0] if isinstance(error, KeyError) and error.args else str(error)
    text = " ".join(str(text).split()) or type(error).__name__
    return text if text.startswith("error: ") else f"error: {text}"


def cli(argv: list[str] | None = None) -> int:
    """train.py from a shell: a failure ends with one ``error: ...`` line; the traceback goes to the
    run's log.txt, and to the screen with --debug or BIOMEDVR_DEBUG=1."""
    args = parse_args(argv)
    debug = args.debug or os.environ.get(DEBUG_ENV, "") not in ("", "0")
    try:
        main(args)
    except KeyboardInterrupt:
        raise
    except SystemExit as error:
        if isinstance(error.code, str):
            sys.stdout.flush()
            print(one_line(SystemExit(error.code)), file=sys.stderr)
            return 1
        raise
    except Exception as error:
        if debug:
            raise
        log_traceback()
        sys.stdout.flush()
        print(
            f"(the traceback is in the run's log.txt; --debug or {DEBUG_ENV}=1 shows it here)",
            file=sys.stderr,
        )
        print(one_line(error), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(cli())
