"""When to stop a run early: ``patience`` epochs without an improvement of at least ``min_delta``.

A pure function of the metric's history, so a resumed run decides exactly as the uninterrupted one
would, and the rule is tested on scripted sequences on its own.
"""
from __future__ import annotations

import math
from collections.abc import Sequence

__all__ = ["last_improvement", "should_stop"]


def last_improvement(values: Sequence[float], maximize: bool = False, min_delta: float = 0.0) -> int:
    """1-based epoch of the last value that beat the best before it by at least ``min_delta`` (0: none).

    The reference best moves only on such an improvement, so a slow drift of tiny gains does not
    keep a run alive forever."""
    best, last = None, 0
    for epoch, v in enumerate(values, 1):
        if v is None or not math.isfinite(v):
            continue
        score = v if maximize else -v  # higher is better
        if best is None or (score > best and score - best >= min_delta):
            best, last = score, epoch
    return last


def should_stop(values: Sequence[float], patience: int, min_delta: float = 0.0, min_epochs: int = 1,
                maximize: bool = False) -> bool:
    """True when the run should end after the last of ``values`` (one per epoch so far).

    ``patience`` <= 0 turns early stopping off; no run stops before ``min_epochs`` epochs."""
    if patience <= 0 or len(values) < max(1, min_epochs):
        return False
    return len(values) - last_improvement(values, maximize, min_delta) >= patience
