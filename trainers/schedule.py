"""The learning-rate schedule: Dassl's, with its constant warmup rebuilt for current torch."""

from __future__ import annotations

import math

import torch
from dassl.optim import build_lr_scheduler
from torch.optim.lr_scheduler import CosineAnnealingLR, LambdaLR, LRScheduler
from yacs.config import CfgNode


def build_scheduler(
    optimizer: torch.optim.Optimizer, optim: CfgNode, steps_per_epoch: int = 1
) -> LRScheduler:
    """Dassl's learning-rate schedule, with its constant warmup rebuilt here.

    ``steps_per_epoch`` > 1 is a cosine stepped after every batch, as the published BioMedVR code does:
    LR * (1 + cos(pi * step / (MAX_EPOCH * steps_per_epoch))) / 2 (TRAINER.COMMON.LR_STEP batch).

    Dassl 0.6.3's warmup wrappers pass ``verbose`` to torch's LRScheduler, which recent torch no
    longer accepts. Constant warmup then cosine is one LambdaLR: WARMUP_CONS_LR for WARMUP_EPOCH
    epochs, then LR * (1 + cos(pi * (epoch - WARMUP_EPOCH) / MAX_EPOCH)) / 2, as Dassl steps it.
    """
    if steps_per_epoch > 1:
        if optim.LR_SCHEDULER != "cosine" or optim.WARMUP_EPOCH > 0:
            raise ValueError(
                "TRAINER.COMMON.LR_STEP batch is the published code's cosine: it needs OPTIM.LR_SCHEDULER "
                f"cosine and OPTIM.WARMUP_EPOCH 0, got {optim.LR_SCHEDULER!r} and {optim.WARMUP_EPOCH}"
            )
        return CosineAnnealingLR(optimizer, T_max=optim.MAX_EPOCH * steps_per_epoch)
    if optim.WARMUP_EPOCH <= 0:
        return build_lr_scheduler(optimizer, optim)
    if (optim.WARMUP_TYPE, optim.LR_SCHEDULER, optim.WARMUP_RECOUNT) != ("constant", "cosine", True):
        raise ValueError(
            "OPTIM: warmup is supported only as WARMUP_TYPE 'constant' before LR_SCHEDULER 'cosine' "
            f"with WARMUP_RECOUNT True, got {optim.WARMUP_TYPE!r}, {optim.LR_SCHEDULER!r}, "
            f"{optim.WARMUP_RECOUNT}"
        )
    warmup, max_epoch, warmup_factor = optim.WARMUP_EPOCH, optim.MAX_EPOCH, optim.WARMUP_CONS_LR / optim.LR

    def factor(epoch: int) -> float:
        if epoch < warmup:
            return warmup_factor
        return 0.5 * (1 + math.cos(math.pi * (epoch - warmup) / max_epoch))

    return LambdaLR(optimizer, factor)
