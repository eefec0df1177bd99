"""The learning-rate schedule: a pure function of the step, so resume and tests need no state."""
from __future__ import annotations

import math

__all__ = ["lr_at"]


def lr_at(step: int, total_steps: int, lr: float, warmup_ratio: float, min_lr_ratio: float) -> float:
    """Learning rate for optimizer step ``step`` (0-based) of ``total_steps``.

    1) linear warmup over the first ``warmup_ratio * total_steps`` steps (starting above 0, so that
       step 0 already moves the weights);
    2) cosine decay from ``lr`` to ``min_lr_ratio * lr`` over the remaining steps;
    3) the floor ``min_lr_ratio * lr`` at and after ``total_steps`` (a resumed run that trains longer).
    """
    warmup = int(warmup_ratio * total_steps)
    min_lr = lr * min_lr_ratio
    # 1) warmup
    if step < warmup:
        return lr * (step + 1) / (warmup + 1)
    # 3) floor
    if step >= total_steps:
        return min_lr
    # 2) cosine decay, progress 0 -> 1 over [warmup, total_steps)
    progress = (step - warmup) / max(1, total_steps - warmup)
    return min_lr + 0.5 * (1.0 + math.cos(math.pi * progress)) * (lr - min_lr)
