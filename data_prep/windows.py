"""Which rows may end a sample window: described by index, never materialized.

A window is the ``look_back`` rows ending at row t of one ticker. Row t may end a window when
  - all of rows t-look_back+1 .. t belong to the same ticker and lie after the feature warm-up,
  - the target rows t+1 .. t+look_ahead exist in the same ticker (the forward return is defined),
  - no halt (a run of consecutive zero-volume rows) longer than ``max_halt_days`` touches rows
    t-look_back+1 .. t+look_ahead (a stale price would fake both the inputs and the return).
Everything is computed with cumulative sums over the flat arrays.
"""
from __future__ import annotations

import numpy as np

from .panel import Panel

__all__ = ["long_halt_rows", "window_ends"]


def long_halt_rows(panel: Panel, max_halt_days: int) -> np.ndarray:
    """bool [n]: rows inside a run of zero-volume rows (within one ticker) longer than max_halt_days."""
    n = len(panel)
    zero = panel.volume <= 0
    if not zero.any():
        return np.zeros(n, dtype=bool)
    # a run breaks at a non-zero row or at a ticker boundary
    brk = np.ones(n, dtype=bool)
    brk[1:] = (zero[1:] != zero[:-1]) | (panel.ticker[1:] != panel.ticker[:-1])
    run_id = np.cumsum(brk) - 1
    run_len = np.bincount(run_id)
    return zero & (run_len[run_id] > max_halt_days)


def window_ends(panel: Panel, look_back: int, look_ahead: int, warmup: int, max_halt_days: int) -> np.ndarray:
    """int64 sorted row indices that may end a window (see module docstring)."""
    n = len(panel)
    starts = panel.starts
    pos = np.arange(n, dtype=np.int64) - starts[panel.ticker]
    length = np.diff(starts)[panel.ticker]
    ok = (pos - look_back + 1 >= warmup) & (pos + look_ahead < length)
    bad = long_halt_rows(panel, max_halt_days)
    if bad.any():
        cb = np.concatenate([[0], np.cumsum(bad, dtype=np.int64)])  # cb[i] = bad rows before i
        idx = np.flatnonzero(ok)
        lo = idx - look_back + 1
        hi = idx + look_ahead + 1
        clean = cb[hi] - cb[lo] == 0
        return idx[clean].astype(np.int64)
    return np.flatnonzero(ok).astype(np.int64)
