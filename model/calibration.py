"""Calibration table: does a higher predicted rise probability really mean more rises?

MAE and IC say how close and how well ordered the predictions are; they do not say whether a
score of 0.7 means "rises more often than a score of 0.6". The table bins the predictions into
quantile bins (deciles by default) and reports, per bin, the realized rise rate (the fraction of
forward returns > 0) and the mean target, so a user can read a score as a probability or not.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["CalibrationBin", "calibration_table"]


@dataclass(frozen=True)
class CalibrationBin:
    """One prediction quantile bin: its count, prediction range and mean, what was realized."""

    bin: int
    n: int
    pred_min: float
    pred_max: float
    pred_mean: float
    rise_rate: float  # share of the bin's finite forward returns > 0 (NaN when none is finite)
    target_mean: float
    ret_mean: float

    def to_json(self) -> dict[str, Any]:
        return {"bin": self.bin, "n": self.n, "pred_min": self.pred_min, "pred_max": self.pred_max,
                "pred_mean": self.pred_mean, "rise_rate": self.rise_rate, "target_mean": self.target_mean,
                "ret_mean": self.ret_mean}


def calibration_table(pred: np.ndarray, target: np.ndarray, ret: np.ndarray,
                      n_bins: int = 10) -> tuple[CalibrationBin, ...]:
    """One row per prediction quantile bin: count, prediction range and mean, realized rise rate, mean target.

    Bins are quantiles of the predictions (not fixed widths) because a trained model's outputs
    crowd around the target mean; fixed-width bins would leave most of them empty. Ties are
    broken by rank so every bin gets (nearly) the same number of windows even when a model
    outputs a constant. Non-finite forward returns are left out of the rise rate.
    """
    pred = np.asarray(pred, np.float64)
    target = np.asarray(target, np.float64)
    ret = np.asarray(ret, np.float64)
    n = pred.shape[0]
    if n == 0:
        return ()
    n_bins = max(1, min(int(n_bins), n))
    order = np.argsort(pred, kind="stable")
    bin_of = np.empty(n, np.int64)
    bin_of[order] = (np.arange(n) * n_bins) // n  # rank -> equal-count bin
    rows = []
    for b in range(n_bins):
        m = bin_of == b
        r = ret[m]
        r = r[np.isfinite(r)]
        rows.append(CalibrationBin(
            bin=b + 1,
            n=int(m.sum()),
            pred_min=float(pred[m].min()),
            pred_max=float(pred[m].max()),
            pred_mean=float(pred[m].mean()),
            rise_rate=float((r > 0).mean()) if r.size else float("nan"),
            target_mean=float(target[m].mean()),
            ret_mean=float(r.mean()) if r.size else float("nan"),
        ))
    return tuple(rows)
