"""Every config key this project adds to Dassl's defaults, with its default, in one place."""

from __future__ import annotations

import difflib
import math
import os
from typing import Any

import yaml
from yacs.config import CfgNode as CN

# TRAINER.BIOMEDVR.INPUT_SIZE's default, also assumed for checkpoints that do not record theirs.
DEFAULT_INPUT_SIZE = 192
DEFAULT_ATTRIBUTE_SET = "curated"  # our own set (attributes/curated); TRAINER.BIOMEDVR.ATTRIBUTE_SET

# PREC, one per trainer family's node (TRAINER.BIOMEDVR.PREC, TRAINER.COOP.PREC, ...): encoder
# autocast on CUDA, "fp32", "bf16" or "fp16" (with a grad scaler; "amp", BiomedCoOp's name, is the
# same); always fp32 on CPU.
DEFAULT_PREC = "bf16"


def extend_cfg(cfg: CN) -> None:
    """Add the keys of this project's datasets and trainers to a Dassl default config."""
    # Base-to-novel protocol: "all" classes, the "base" half (first ceil(n/2) labels) or the "new" rest.
    cfg.DATASET.SUBSAMPLE_CLASSES = "all"
    # Make a new 50/20/30 split when the dataset has no split file (results not comparable to papers).
    cfg.DATASET.CREATE_SPLIT = False
    # The seed of the few-shot draw: -1 draws with the run's SEED (each seed its own few-shot set);
    # 1 is BiomedCoOp's feature baselines (its main.py trains its three tasks on seed 1's draw).
    cfg.DATASET.FEWSHOT_SEED = -1
    # Backbone weights: "" = the backbone's published weights, "none" = random weights,
    # an open_clip pretrained tag, or the path of a local weights file (offline clusters).
    cfg.MODEL.BACKBONE.PRETRAINED = ""

    common = cfg.TRAINER.COMMON = CN()
    # Settings of every trainer on a frozen CLIP (VR and prompt learning alike).
    # Decode images once into tensor caches and augment on the device; False uses Dassl's loaders.
    common.FAST_DATA = True
    # Random-resized-crop and flip of training images; False centre-crops them (for debugging).
    common.AUGMENT = True
    # Class-name prompt templates (AR, VP, zero-shot CLIP; KgCoOp's and ProGrad's hand-crafted
    # class embeddings); several are averaged. Empty: the dataset's template in datasets/catalog.py
    # ("a photo of a {}." for the biomedical sets, CoOp's per-dataset one for the natural-image sets).
    common.TEMPLATES = []
    # Save L2-normalized test embeddings to embeddings.npz (for t-SNE figures).
    common.SAVE_EMBEDDINGS = False
    # When the cosine schedule steps: once per "epoch" (Dassl's way), after every "batch" (the
    # published BioMedVR code, over MAX_EPOCH x batches per epoch), or "dassl_batch": Dassl's schedule
    # counted in batches (WARMUP_EPOCH batches of warm-up, then a cosine of period 2 x MAX_EPOCH
    # batches; BiomedCoOp's CLIP-Adapter). All the same with one batch per epoch.
    common.LR_STEP = "epoch"
    # fp16 training multiplies the loss by a grad scaler against underflow; False trains fp16 without
    # one, as the published BioMedVR code does (PRESET=reference_code).
    common.GRAD_SCALER = True
    # Training batch size of 1-shot runs; 0 keeps DATALOADER.TRAIN_X.BATCH_SIZE (the published code: 16).
    common.ONE_SHOT_BATCH_SIZE = 0

    # Also test after every epoch and record the best epoch's test accuracy (best_test_accuracy in
    # metrics.json): optimistic, selected on the test set as the published numbers were; the reported
    # accuracy stays that of the final model.
    cfg.TEST.EVAL_EVERY_EPOCH = False

    vr = cfg.TRAINER.BIOMEDVR = CN()
    # Side of the image inside the frame; the backbone's size minus twice the frame width (224 - 2*16).
    vr.INPUT_SIZE = DEFAULT_INPUT_SIZE
    # Attribute set: a folder name under attributes/ or a path to a folder of <dataset>_<kind>.json.
    vr.ATTRIBUTE_SET = DEFAULT_ATTRIBUTE_SET
    # Sentences used per class and kind.
    vr.NUM_ATTR = 20
    # How they are chosen: "first" (the first NUM_ATTR of the file, deterministic) or "reference" (the
    # published code: sentences under 20 characters dropped, NUM_ATTR drawn per class, with replacement
    # when a class has fewer, once per run from the run's seed).
    vr.ATTRIBUTE_SAMPLING = "first"
    # "reference" only: the published run drew its few-shot picks in the same process (no
    # split_fewshot cache existed yet), so its sentence draw comes after those draws on the one stream.
    vr.REFERENCE_PICKS_DRAWN = False
    # k of Eq. 11: a class score averages its k best-matching attributes.
    vr.TOPK = 3
    # Two experts (delta+ and delta-) fused by the gate; False ("w/o MoPE", as the published ablation):
    # one pattern and no gate, logits = s+, with s- scored on the same view for the CS loss only.
    vr.USE_MOPE = True
    # Score the negative expert against confusion-aware attributes; False makes s- zero.
    vr.USE_CONFUSION_ATTRIBUTES = True
    # beta and m of the confusion-suppression loss (Eq. 15-16); beta 0 disables it.
    vr.CS_WEIGHT = 0.3
    vr.CS_MARGIN = 0.5
    # "paper": Eq. 15 as written; "reference": as the published code computes it.
    vr.CS_FORM = "paper"
    # A dataset whose attribute set has no confusion-aware file: "error" stops with the file to write;
    # "zero" runs without the negative pathway (s- = 0), as the published code does on six of the seven
    # natural-image datasets (PRESET=reference_code).
    vr.MISSING_CONFUSE = "error"
    # lambda of zero-shot BioMedVR: s+ - lambda * s-.
    vr.ZS_LAMBDA = 0.5
    # Encoder precision of the VR trainers (DEFAULT_PREC above).
    vr.PREC = DEFAULT_PREC
    # Width in pixels of VP's border pattern.
    vr.VP_BORDER = 30

    # The prompt-learning methods, one node each with BiomedCoOp's key names, so that BiomedCoOp's
    # trainer YAML files load unchanged. Every node has PREC, N_CTX, CTX_INIT, CSC and
    # CLASS_TOKEN_POSITION (prompt_node below); the method's own keys follow.
    prompt_node(cfg, "COOP")
    # CoCoOp (its meta-net makes the context image-specific; CSC must stay False).
    prompt_node(cfg, "COCOOP")

    biomedcoop = prompt_node(cfg, "BIOMEDCOOP")
    # Weights of the semantic-consistency (SCCM) and the knowledge-distillation (KDSP) terms.
    biomedcoop.SCCM_LAMBDA = 1.0
    biomedcoop.KDSP_LAMBDA = 1.0
    # Outlier threshold of the prompt pruning: prompts whose standardized z-score exceeds TAU are dropped.
    biomedcoop.TAU = 1.5
    # The z-score of the pruning: "code" (BiomedCoOp's code: the signed deviation from the median over
    # the median absolute deviation) or "paper" (its absolute value, as the paper writes it).
    biomedcoop.PRUNING = "code"
    # Ensemble sentences per class (the first N_PROMPTS; fewer when a class has fewer).
    biomedcoop.N_PROMPTS = 50
    # Ensemble source: "biomedcoop" (BiomedCoOp's own table, downloaded on first use, or by
    # `python -m attributes.fetch biomedcoop`), "curated" (our descriptive attributes) or the path of a
    # JSON file {class: [sentences]}.
    biomedcoop.PROMPTS = "biomedcoop"

    kgcoop = prompt_node(cfg, "KGCOOP")
    # Weight of the distance 1 - mean cos(learned, hand-crafted class embeddings).
    kgcoop.W = 1.0

    prograd = prompt_node(cfg, "PROGRAD")
    # Temperature T of the KL to the zero-shot logits, and lambda of the gradient projection.
    prograd.T = 1.0
    prograd.LAMBDA = 1.0
    # The KL's teacher: "zero_shot" (the frozen model with the hand-crafted prompts, ProGrad's paper) or
    # "student" (BiomedCoOp's ProGrad_BiomedCLIP: the learned prompts themselves, so the KL's gradient
    # is zero and training is CoOp's).
    prograd.TEACHER = "zero_shot"
    # Accepted so that BiomedCoOp's files load; only their defaults (or NAME "prograd") are supported.
    prograd.NAME = ""
    prograd.GM = False
    prograd.ALPHA = 0.0

    zs = cfg.TRAINER.ZEROSHOTCLIP = CN()
    # Encoder precision of ZeroshotCLIP (DEFAULT_PREC above).
    zs.PREC = DEFAULT_PREC

    # ----- Feature-based baselines (trainers/feature_baselines.py); defaults from BiomedCoOp's configs.
    adapter = cfg.TRAINER.CLIP_ADAPTER = CN()
    # Encoder precision of CLIP_Adapter (DEFAULT_PREC above).
    adapter.PREC = DEFAULT_PREC
    # Residual ratio alpha of f* = alpha A(f) + (1 - alpha) f (BiomedCoOp's alpha_ca).
    adapter.ALPHA = 0.5
    # L2-normalize f* before the text logits (CLIP-Adapter's own code); False: BiomedCoOp's code.
    adapter.NORMALIZE = False
    # The adapter's hidden width is the feature width divided by REDUCTION.
    adapter.REDUCTION = 4

    tip = cfg.TRAINER.TIP_ADAPTER = CN()
    # Encoder precision of TipAdapter and TipAdapter_F (DEFAULT_PREC above).
    tip.PREC = DEFAULT_PREC
    # alpha (cache weight) and beta (affinity sharpness) before, or without, the search.
    tip.INIT_ALPHA = 1.0
    tip.INIT_BETA = 1.0
    # Search beta and alpha on the few-shot validation split (never the test split).
    tip.SEARCH_HP = True
    # [beta, alpha]: each searched over SEARCH_STEP values from 0.1 up to SEARCH_SCALE.
    tip.SEARCH_SCALE = [50.0, 50.0]
    tip.SEARCH_STEP = [200, 200]
    # The cache keys: the mean feature of this many augmented views of each training image (crop of
    # area 0.5-1 and flip; BiomedCoOp's augment_epoch), or 0 for one centre-cropped view.
    tip.AUGMENT_EPOCH = 1

    lp = cfg.TRAINER.LP = CN()
    # Encoder precision of LinearProbe (DEFAULT_PREC above).
    lp.PREC = DEFAULT_PREC
    # Inverse regularization strengths C tried first on the validation split.
    lp.C_GRID = [1e6, 1e4, 1e2, 1.0, 1e-2, 1e-4, 1e-6]
    # Halvings of the log10 interval around the best C of the grid.
    lp.NUM_STEP = 8
    # L-BFGS iterations of each logistic regression.
    lp.MAX_ITER = 1000

    lppp = cfg.TRAINER.LPPP = CN()
    # Encoder precision of LPPlusPlus (DEFAULT_PREC above).
    lppp.PREC = DEFAULT_PREC
    # LP++ updates its class-wise text weights alpha every ALPHA_EVERY full-batch epochs.
    lppp.ALPHA_EVERY = 10
    # True: alpha's step uses the gradient summed over all epochs so far (the published code);
    # False: the current gradient (the paper's block-coordinate step).
    lppp.ACCUMULATE_ALPHA_GRAD = True
    # True: the bias starts at zero; False: PyTorch's initialisation of nn.Linear (the published code).
    lppp.ZERO_BIAS = False


def prompt_node(cfg: CN, name: str) -> CN:
    """Add TRAINER.<name> with the keys every prompt-learning method shares, and return it."""
    node = cfg.TRAINER[name] = CN()
    # Encoder precision ("amp" is fp16 autocast with a grad scaler): fp32, BiomedCoOp's train.py default,
    # so that its trainer files, which mostly leave PREC out, run as there.
    node.PREC = "fp32"
    # Number of learned context vectors (the token count of CTX_INIT when that is set).
    node.N_CTX = 4
    # Words that initialize the context ("" = random normal(0, 0.02)); BiomedCoOp uses "a photo of a".
    node.CTX_INIT = "a photo of a"
    # Class-specific context: one context per class instead of one shared context.
    node.CSC = False
    # Where the class name goes; only "end" ("<context> <classname>.") is implemented.
    node.CLASS_TOKEN_POSITION = "end"
    return node


def available_cpus() -> int:
    """The CPUs this process may run on (its affinity where the platform has one)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def fit_workers(cfg: CN) -> None:
    """DATALOADER.NUM_WORKERS no larger than the available CPUs (more only makes torch warn and wait)."""
    cpus = available_cpus()
    if cpus < cfg.DATALOADER.NUM_WORKERS:
        print(f"DATALOADER.NUM_WORKERS {cfg.DATALOADER.NUM_WORKERS} lowered to {cpus}, the CPUs available")
        cfg.DATALOADER.NUM_WORKERS = cpus


# ----- merging files and KEY VALUE pairs, with errors that name the key, the source and the fix --------
class ConfigError(ValueError):
    """A config file or override a user wrote that cannot be applied: one line saying what to change."""


def config_keys(cfg: CN, prefix: str = "") -> list[str]:
    """Every leaf key of a config, dotted (``OPTIM.LR``)."""
    keys = []
    for key, value in cfg.items():
        keys += config_keys(value, f"{prefix}{key}.") if isinstance(value, CN) else [prefix + key]
    return keys


def did_you_mean(key: str, candidates: list[str]) -> str:
    """`` (did you mean X?)`` for the closest candidate (case aside), or ""."""
    by_upper = {candidate.upper(): candidate for candidate in candidates}
    close = by_upper.get(key.upper()) or next(
        iter(difflib.get_close_matches(key.upper(), list(by_upper), n=1, cutoff=0.75)), None
    )
    return f" (did you mean {by_upper.get(close, close)}?)" if close else ""


def coerce_value(cfg: CN, key: str, value: Any, source: str) -> Any:
    """``value`` (a YAML value, or text from the command line) as the type of ``cfg``'s ``key``."""
    node, _, leaf = key.rpartition(".")
    target = cfg
    for part in filter(None, node.split(".")):
        if not isinstance(target.get(part), CN):
            raise ConfigError(f"{source}: unknown key {key}{did_you_mean(key, config_keys(cfg))}")
        target = target[part]
    if leaf not in target:
        raise ConfigError(f"{source}: unknown key {key}{did_you_mean(key, config_keys(cfg))}")
    original = target[leaf]
    value = CN._decode_cfg_value(value)
    if isinstance(original, CN):
        raise ConfigError(f"{source}: {key} is a group of keys ({', '.join(original)}), not a value")
    if isinstance(original, float) and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if isinstance(original, list | tuple) and isinstance(value, list | tuple):
        return type(original)(value)
    if original is None or value is None or type(value) is type(original):
        return value
    expected = {bool: "True or False", int: "an integer", float: "a number", str: "a string"}.get(
        type(original), type(original).__name__
    )
    raise ConfigError(
        f"{source}: {key} must be {expected} (like its default {original!r}), got {value!r}. Fix the value."
    )


def set_value(cfg: CN, key: str, value: Any) -> None:
    node, _, leaf = key.rpartition(".")
    target = cfg
    for part in filter(None, node.split(".")):
        target = target[part]
    target[leaf] = value


def merge_pairs(cfg: CN, opts: list[str], source: str = "command line") -> None:
    """``KEY VALUE`` overrides, each checked (known key, value of the key's type) before any is set."""
    if len(opts) % 2:
        raise ConfigError(
            f"{source}: KEY VALUE overrides come in pairs, but {opts[-1]!r} has no value "
            f"(overrides: {' '.join(opts)})"
        )
    pairs = [
        (key, coerce_value(cfg, key, value, source)) for key, value in zip(opts[::2], opts[1::2], strict=True)
    ]
    for key, value in pairs:
        set_value(cfg, key, value)


def flat_items(data: dict, cfg: CN, prefix: str = "") -> list[tuple[str, Any]]:
    """(dotted key, value) of a loaded YAML mapping; a mapping under a group of keys is walked."""
    items = []
    for key, value in data.items():
        full = f"{prefix}{key}"
        if isinstance(value, dict) and isinstance(cfg.get(key), CN):
            items += flat_items(value, cfg[key], full + ".")
        else:
            items.append((full, value))
    return items


def merge_file(cfg: CN, path: str) -> None:
    """A config file's keys, with errors naming the file (and the line of malformed YAML)."""
    try:
        with open(path, encoding="utf-8") as file:
            data = yaml.safe_load(file)
    except OSError as error:
        raise ConfigError(f"cannot read config file {path} ({error.strerror}). Check the path.") from None
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        problem = getattr(error, "problem", None) or str(error).splitlines()[0]
        raise ConfigError(f"{path}{where}: malformed YAML ({problem}). Fix the file.") from None
    if data is None:
        return
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: a config file must map keys to values, not hold a {type(data).__name__}")
    pairs = [(key, coerce_value(cfg, key, value, path)) for key, value in flat_items(data, cfg)]
    for key, value in pairs:
        set_value(cfg, key, value)


# ----- ranges of the values a user gives, checked before any work -----------------------------------
# key -> the smallest allowed value (every prompt-learning node's N_CTX is added in check_ranges).
AT_LEAST = {
    "DATALOADER.TRAIN_X.BATCH_SIZE": 1,
    "DATALOADER.TEST.BATCH_SIZE": 1,
    "DATALOADER.NUM_WORKERS": 0,
    "DATASET.NUM_SHOTS": -1,
    "OPTIM.MOMENTUM": 0,
    "OPTIM.MAX_EPOCH": 0,
    "OPTIM.WEIGHT_DECAY": 0,
    "TRAIN.PRINT_FREQ": 1,
    "TRAIN.CHECKPOINT_FREQ": 0,
    "TRAINER.COMMON.ONE_SHOT_BATCH_SIZE": 0,
    "TRAINER.BIOMEDVR.NUM_ATTR": 1,
    "TRAINER.BIOMEDVR.TOPK": 1,
    "TRAINER.BIOMEDVR.CS_WEIGHT": 0,
    "TRAINER.BIOMEDVR.CS_MARGIN": 0,
    "TRAINER.BIOMEDVR.ZS_LAMBDA": 0,
    "TRAINER.BIOMEDVR.INPUT_SIZE": 1,
    "TRAINER.BIOMEDVR.VP_BORDER": 0,
    "TRAINER.BIOMEDCOOP.N_PROMPTS": 1,
    "TRAINER.BIOMEDCOOP.SCCM_LAMBDA": 0,
    "TRAINER.BIOMEDCOOP.KDSP_LAMBDA": 0,
    "TRAINER.KGCOOP.W": 0,
    "TRAINER.PROGRAD.LAMBDA": 0,
    "TRAINER.CLIP_ADAPTER.REDUCTION": 1,
    "TRAINER.CLIP_ADAPTER.ALPHA": 0,
    "TRAINER.TIP_ADAPTER.INIT_ALPHA": 0,
    "TRAINER.TIP_ADAPTER.INIT_BETA": 0,
    "TRAINER.LP.NUM_STEP": 0,
    "TRAINER.LP.MAX_ITER": 1,
    "TRAINER.LPPP.ALPHA_EVERY": 1,
}
# keys that must be above zero and finite as a float32 (what torch's optimizers compute in)
POSITIVE = ("OPTIM.LR", "TRAINER.PROGRAD.T", "TRAINER.BIOMEDCOOP.TAU")
FLOAT32_MAX = 3.4028234663852886e38
CHOICES = {
    "DATASET.SUBSAMPLE_CLASSES": ("all", "base", "new"),
    "TEST.SPLIT": ("val", "test"),
    "TEST.FINAL_MODEL": ("last_step", "best_val"),
    "TRAINER.BIOMEDVR.ATTRIBUTE_SAMPLING": ("first", "reference"),
}


def get_value(cfg: CN, key: str) -> Any:
    value = cfg
    for part in key.split("."):
        value = value[part]
    return value


def check_ranges(cfg: CN) -> None:
    """Every numeric and choice value a user can give, in range (ConfigError naming the key otherwise)."""
    at_least = dict(AT_LEAST)
    for name, node in cfg.TRAINER.items():
        if isinstance(node, CN) and "N_CTX" in node:
            at_least[f"TRAINER.{name}.N_CTX"] = 1
    for key, low in at_least.items():
        value = get_value(cfg, key)
        if not math.isfinite(value) or value < low:
            raise ConfigError(f"{key} must be at least {low}, got {value}")
    for key in POSITIVE:
        value = get_value(cfg, key)
        if not (math.isfinite(value) and 0 < value <= FLOAT32_MAX):
            raise ConfigError(
                f"{key} must be a positive finite number (at most {FLOAT32_MAX:.3g}), got {value}"
            )
    for key, allowed in CHOICES.items():
        value = get_value(cfg, key)
        if value not in allowed:
            raise ConfigError(f"{key} must be one of {', '.join(allowed)}, got {value!r}")
    if any(side < 1 for side in cfg.INPUT.SIZE):
        raise ConfigError(f"INPUT.SIZE must be positive, got {tuple(cfg.INPUT.SIZE)}")
    for name, values in (
        ("SEARCH_SCALE", cfg.TRAINER.TIP_ADAPTER.SEARCH_SCALE),
        ("SEARCH_STEP", cfg.TRAINER.TIP_ADAPTER.SEARCH_STEP),
    ):
        if len(values) != 2 or any(value <= 0 for value in values):
            raise ConfigError(
                f"TRAINER.TIP_ADAPTER.{name} must be two positive numbers [beta, alpha], got {list(values)}"
            )
