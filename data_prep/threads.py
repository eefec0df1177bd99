"""How many threads prep may use: the cores this process may run on, capped by STOCKTUNE_PREP_THREADS."""
from __future__ import annotations

import os

from common.env import get as get_env

__all__ = ["prep_threads"]


def prep_threads() -> int:
    """Worker threads for reading files and computing feature blocks (STOCKTUNE_PREP_THREADS caps it)."""
    env = get_env("STOCKTUNE_PREP_THREADS") or ""
    try:
        n = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        n = os.cpu_count() or 1
    return max(1, min(n, int(env))) if env.isdigit() and int(env) > 0 else max(1, n)
