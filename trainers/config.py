"""Every config key this project adds to Dassl's defaults, with its default, in one place."""

from __future__ import annotations

from yacs.config import CfgNode as CN

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

    vr = cfg.TRAINER.BIOMEDVR = CN()
    # Side of the image inside the frame; the backbone's size minus twice the frame width (224 - 2*16).
    vr.INPUT_SIZE = 192
    # Attribute set: a folder name under attributes/ or a path to a folder of <dataset>_<kind>.json.
    vr.ATTRIBUTE_SET = "curated"
    # Sentences used per class and kind (the first NUM_ATTR of the file, so runs are deterministic).
    vr.NUM_ATTR = 20
    # k of Eq. 11: a class score averages its k best-matching attributes.
    vr.TOPK = 3
    # Two experts (delta+ and delta-); False shares one delta between both attribute groups.
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
