"""Every config key this project adds to Dassl's defaults, with its default, in one place."""

from __future__ import annotations

import os

from yacs.config import CfgNode as CN

# TRAINER.BIOMEDVR.INPUT_SIZE's default, also assumed for checkpoints that do not record theirs.
DEFAULT_INPUT_SIZE = 192

# PREC, one per trainer family's node (TRAINER.BIOMEDVR.PREC, TRAINER.COOP.PREC, ...): encoder
# autocast on CUDA, "fp32", "bf16" or "fp16" (with a grad scaler); always fp32 on CPU.
DEFAULT_PREC = "bf16"


def extend_cfg(cfg: CN) -> None:
    """Add the keys of this project's datasets and trainers to a Dassl default config."""
    # Base-to-novel protocol: "all" classes, the "base" half (first ceil(n/2) labels) or the "new" rest.
    cfg.DATASET.SUBSAMPLE_CLASSES = "all"
    # Make a new 50/20/30 split when the dataset has no split file (results not comparable to papers).
    cfg.DATASET.CREATE_SPLIT = False
    # Backbone weights: "" = the backbone's published weights, "none" = random weights,
    # an open_clip pretrained tag, or the path of a local weights file (offline clusters).
    cfg.MODEL.BACKBONE.PRETRAINED = ""

    common = cfg.TRAINER.COMMON = CN()
    # Settings of every trainer on a frozen CLIP (VR and prompt learning alike).
    # Decode images once into tensor caches and augment on the device; False uses Dassl's loaders.
    common.FAST_DATA = True
    # Random-resized-crop and flip of training images; False centre-crops them (for debugging).
    common.AUGMENT = True
    # Prompt templates for class-name scoring (AR, VP, zero-shot CLIP); several are averaged.
    common.TEMPLATES = ["a photo of a {}."]
    # Save L2-normalized test embeddings to embeddings.npz (for t-SNE figures).
    common.SAVE_EMBEDDINGS = False
    # When the cosine schedule steps: once per "epoch" (Dassl's way) or after every "batch" (the
    # published BioMedVR code, over MAX_EPOCH x batches per epoch). The same with one batch per epoch.
    common.LR_STEP = "epoch"
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
    vr.ATTRIBUTE_SET = "curated"
    # Sentences used per class and kind.
    vr.NUM_ATTR = 20
    # How they are chosen: "first" (the first NUM_ATTR of the file, deterministic) or "reference" (the
    # published code: sentences under 20 characters dropped, NUM_ATTR drawn per class, with replacement
    # when a class has fewer, once per run from the run's seed).
    vr.ATTRIBUTE_SAMPLING = "first"
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
    # lambda of zero-shot BioMedVR: s+ - lambda * s-.
    vr.ZS_LAMBDA = 0.5
    # Encoder precision of the VR trainers (DEFAULT_PREC above).
    vr.PREC = DEFAULT_PREC
    # Width in pixels of VP's border pattern.
    vr.VP_BORDER = 30

    coop = cfg.TRAINER.COOP = CN()
    # Encoder precision of CoOp (DEFAULT_PREC above).
    coop.PREC = DEFAULT_PREC
    # Number of learned context vectors (the token count of CTX_INIT when that is set).
    coop.N_CTX = 4
    # Words that initialize the context ("" = random normal(0, 0.02)); BiomedCoOp uses "a photo of a".
    coop.CTX_INIT = "a photo of a"
    # Class-specific context: one context per class instead of one shared context.
    coop.CSC = False
    # Where the class name goes; only "end" ("<context> <classname>.") is implemented.
    coop.CLASS_TOKEN_POSITION = "end"


def available_cpus() -> int:
    """The CPUs this process may run on (its affinity where the platform has one)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def fit_workers(cfg: CN) -> None:
    """DATALOADER.NUM_WORKERS no larger than the available CPUs (more only makes torch warn and wait)."""
    cpus = available_cpus()
    if cpus < cfg.DATALOADER.NUM_WORKERS:
        print(f"DATALOADER.NUM_WORKERS {cfg.DATALOADER.NUM_WORKERS} lowered to {cpus}, the CPUs available")
        cfg.DATALOADER.NUM_WORKERS = cpus
