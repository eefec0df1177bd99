"""Small windows around overnight jumps, shared by split detection (adjust.py) and unit-change
detection (units.py): both score a few candidate rows against the days before and after them, in
their own ticker, without looping over rows in Python.
"""
from __future__ import annotations

import warnings

import numpy as np

__all__ = ["window_median", "window_mean", "levels_around", "volume_shift"]


def _window(values: np.ndarray, valid: np.ndarray, centers: np.ndarray, lo: np.ndarray,
            hi: np.ndarray, offsets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(values[c + o], usable) for each center c and offset o: usable = inside [lo, hi) and ``valid``."""
    idx = centers[:, None] + offsets[None, :]
    ok = (idx >= lo[:, None]) & (idx < hi[:, None])
    idx = np.clip(idx, 0, len(values) - 1)
    return values[idx], ok & valid[idx]


def window_median(values: np.ndarray, valid: np.ndarray, centers: np.ndarray, lo: np.ndarray,
                   hi: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """nanmedian of values[c + o] over offsets o, restricted to rows in [lo, hi) where ``valid``."""
    w, ok = _window(values, valid, centers, lo, hi, offsets)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN windows (edges, halts) give NaN: fine
        return np.nanmedian(np.where(ok, w, np.nan), axis=1)


def window_mean(values: np.ndarray, valid: np.ndarray, centers: np.ndarray, lo: np.ndarray,
                 hi: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """mean of values[c + o] over offsets o, restricted to rows in [lo, hi) where ``valid``; NaN if none."""
    w, ok = _window(values, valid, centers, lo, hi, offsets)
    count = ok.sum(axis=1)
    return np.where(count > 0, np.where(ok, w, 0.0).sum(axis=1) / np.maximum(count, 1), np.nan)


def levels_around(lc: np.ndarray, trading: np.ndarray, cand: np.ndarray, lo: np.ndarray, hi: np.ndarray,
                  days: int) -> tuple[np.ndarray, np.ndarray]:
    """(later, earlier) for each candidate row c, in log terms against the previous close lc[c - 1]:
    the median close of the ``days`` rows after c (or c's own close) and of the ``days`` rows before c
    (or the previous close itself). A jump that holds has ``later`` at the new level and ``earlier`` at 0."""
    after = window_median(lc, trading, cand, lo, hi, np.arange(1, days + 1))
    later = np.where(np.isnan(after), lc[cand], after) - lc[cand - 1]
    before = window_median(lc, trading, cand, lo, hi, np.arange(-days, 0))
    earlier = np.where(np.isnan(before), lc[cand - 1], before) - lc[cand - 1]
    return later, earlier


def volume_shift(volume: np.ndarray, trading: np.ndarray, cand: np.ndarray, lo: np.ndarray, hi: np.ndarray,
                 days: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(log volume of each candidate row, median log volume of the ``days`` rows before it, and the
    change of that median to the ``days`` rows from the candidate on); NaN without volume information.

    Logs are taken of the windows' rows only (a few thousand candidates), not of the whole column.
    """
    w, ok = _window(volume, trading, cand, lo, hi, np.arange(-days, days))
    with np.errstate(divide="ignore", invalid="ignore"):
        logs = np.where(ok, np.log(np.where(ok, w, 1.0)), np.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN windows (edges, halts) give NaN: fine
        v_before = np.nanmedian(logs[:, :days], axis=1)
        v_after = np.nanmedian(logs[:, days:], axis=1)
    return np.log(np.where(trading[cand], volume[cand], 1.0)), v_before, v_after - v_before
