"""Which rows may end a sample window: described by index, never materialized.

A window is the ``look_back`` rows ending at row t of one ticker. Row t may end a window when
  - all of rows t-look_back+1 .. t belong to the same ticker and lie after the feature warm-up,
  - the target rows t+1 .. t+look_ahead exist in the same ticker (the forward return is defined),
  - no halt (a run of consecutive zero-volume rows) longer than ``max_halt_days`` touches rows
    t-look_back+1 .. t+look_ahead (a stale price would fake both the inputs and the return).
A window to predict from (``require_target=False``) obeys the same rules for its input rows only:
its target lies in the future.
Everything is computed with cumulative sums over the flat arrays.
"""
from __future__ import annotations

import numpy as np

from .panel import Panel

__all__ = ["long_halt_rows", "window_ends", "row_starts", "ranges"]


def row_starts(panel: Panel) -> np.ndarray:
    """``panel.starts`` without converting the int32 ticker column to int64 on the way (10M rows)."""
    keys = np.arange(len(panel.tickers) + 1, dtype=panel.ticker.dtype)
    return np.searchsorted(panel.ticker, keys).astype(np.int64)


def ranges(first: np.ndarray, count: np.ndarray) -> np.ndarray:
    """int64 concatenation of arange(first[i], first[i] + count[i]) over i, without a Python loop."""
    count = np.maximum(count, 0)
    total = int(count.sum())
    offset = np.cumsum(count) - count  # where each range starts in the output
    return np.repeat(np.asarray(first, np.int64) - offset, count) + np.arange(total, dtype=np.int64)


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


def window_ends(panel: Panel, look_back: int, look_ahead: int, warmup: int, max_halt_days: int,
                require_target: bool = True) -> np.ndarray:
    """int64 sorted row indices that may end a window (see module docstring)."""
    starts = row_starts(panel)
    # per ticker, the rows that may end a window form one range: from the first row whose window
    # starts after the warm-up to the last row whose target rows exist (or the last row)
    ahead = look_ahead if require_target else 0
    first = starts[:-1] + warmup + look_back - 1
    idx = ranges(first, starts[1:] - ahead - first)
    bad = long_halt_rows(panel, max_halt_days)
    if bad.any():
        cb = np.concatenate([[0], np.cumsum(bad, dtype=np.int64)])  # cb[i] = bad rows before i
        clean = cb[idx + ahead + 1] - cb[idx - look_back + 1] == 0
        return idx[clean]
    return idx
