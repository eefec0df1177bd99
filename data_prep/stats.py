"""Goodness-of-fit statistics for the report, numpy only (no scipy in data_prep)."""
from __future__ import annotations

import math

import numpy as np

__all__ = ["kolmogorov_sf", "ks_uniform", "subsample"]


def kolmogorov_sf(x: float) -> float:
    """P(K > x) for the Kolmogorov distribution: 2 * sum_{k>=1} (-1)^(k-1) exp(-2 k^2 x^2).

    The alternating series converges fast for x >~ 0.2; below that the survival function is 1 to
    double precision (the Jacobi-theta form for tiny x agrees), so we return 1.
    """
    if x <= 0.0:
        return 1.0
    if x < 0.2:
        return 1.0
    total = 0.0
    for k in range(1, 101):
        term = math.exp(-2.0 * k * k * x * x)
        total += term if k % 2 else -term
        if term < 1e-16:
            break
    return float(min(max(2.0 * total, 0.0), 1.0))


def ks_uniform(x: np.ndarray) -> tuple[float, float]:
    """One-sample KS statistic D and asymptotic p-value of ``x`` against Uniform(0, 1).

    The p-value uses Stephens' small-sample correction lambda = (sqrt(n) + 0.12 + 0.11/sqrt(n)) D.
    """
    x = np.sort(np.asarray(x, dtype=np.float64)[np.isfinite(x)])
    n = x.size
    if n == 0:
        return float("nan"), float("nan")
    x = np.clip(x, 0.0, 1.0)
    i = np.arange(1, n + 1)
    d = max(float(np.max(i / n - x)), float(np.max(x - (i - 1) / n)))
    sn = math.sqrt(n)
    return d, kolmogorov_sf((sn + 0.12 + 0.11 / sn) * d)


def subsample(x: np.ndarray, k: int) -> np.ndarray:
    """At most k evenly strided elements of x (deterministic, covers every ticker of a sorted array)."""
    if x.shape[0] <= k:
        return np.asarray(x)
    return np.asarray(x[np.linspace(0, x.shape[0] - 1, k).astype(np.int64)])
