"""Robust scaling of features into [-1, 1], fitted on training-period rows only.

Per feature: centre = median, scale = interquartile range (a robust spread that ignores the fat
tails of returns), then ``tanh((x - centre) / scale)`` so every value lands in (-1, 1) without a
hard clip that would pile outliers onto the bounds. Fitting on training rows only keeps the
validation and test periods out of every statistic the model sees; the parameters are stored in
meta["scaler"] and ``apply`` reuses them at inference.
"""
from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["fit_scaler", "apply"]

_MAX_FIT_ROWS = 500_000  # an evenly strided sample of the training rows is plenty for quantiles
_CHUNK = 32_768  # rows per chunk in apply: 3 MB of float32, stays in cache


def fit_scaler(features: np.ndarray, rows: np.ndarray) -> dict[str, Any]:
    """Fit median/IQR per feature on ``features[rows]`` (rows: int index of training-period rows)."""
    rows = np.asarray(rows)
    if rows.size == 0:
        raise ValueError("no training rows to fit the scaler on")
    if rows.size > _MAX_FIT_ROWS:
        rows = rows[np.linspace(0, rows.size - 1, _MAX_FIT_ROWS).astype(np.int64)]
    sample = np.asarray(features[rows], dtype=np.float64)
    nf = sample.shape[1]
    q25, q50, q75, std = (np.zeros(nf) for _ in range(4))
    for f in range(nf):  # per column on its finite values (NaN: warm-up, zero-width bands)
        x = sample[:, f]
        x = x[np.isfinite(x)]
        if x.size:
            q25[f], q50[f], q75[f] = np.percentile(x, [25, 50, 75])
            std[f] = x.std()
    scale = q75 - q25
    # a feature with a degenerate IQR (e.g. mostly-constant volume change) falls back to its std
    scale = np.where(scale > 1e-12, scale, np.where(std > 1e-12, std, 1.0))
    center = np.nan_to_num(q50)
    return {"kind": "median_iqr_tanh", "center": center.tolist(), "scale": scale.tolist(),
            "n_fit_rows": int(rows.size)}


def apply(features: np.ndarray, scaler: dict[str, Any], out: np.ndarray | None = None) -> np.ndarray:
    """Scale into (-1, 1) in cache-sized row chunks (in place when ``out is features``); NaN becomes 0 (the median).

    ``features``/``out`` may be memory-mapped files: each chunk is read, scaled and written once.
    """
    center = np.asarray(scaler["center"], dtype=np.float32)
    inv = (1.0 / np.asarray(scaler["scale"], dtype=np.float64)).astype(np.float32)
    if out is None:
        out = np.empty(features.shape, dtype=np.float32)
    nan = np.empty((_CHUNK, features.shape[1]), dtype=bool)
    for lo in range(0, features.shape[0], _CHUNK):
        x = features[lo:lo + _CHUNK]
        if x.dtype != np.float32:
            x = x.astype(np.float32)
        y = out[lo:lo + _CHUNK]
        np.subtract(x, center, out=y)
        y *= inv
        np.tanh(y, out=y)  # +-inf -> +-1
        m = nan[: y.shape[0]]
        np.isnan(y, out=m)
        np.copyto(y, 0.0, where=m)
    return out
