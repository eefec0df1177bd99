"""Small windows around overnight jumps, shared by split detection (adjust.py) and unit-change
detection (units.py): both score a few candidate rows against the days before and after them, in
their own ticker, without looping over rows in Python.
"""
from __future__ import annotations

import warnings

import numpy as np

__all__ = ["window_median", "window_mean"]


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
