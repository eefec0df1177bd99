"""Validation metrics, numpy-side (nothing here keeps a tensor or a graph alive).

The target is a rise probability in [0, 1]; the prediction is too. MAE is the objective; the rest
tell whether a low MAE means anything: directional accuracy, the per-date rank IC (does the model
order the tickers of one day correctly?) and the skill against two trivial predictors measured on the
same windows.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["regression_metrics", "rank_ic", "per_date_ic", "MIN_IC_GROUP"]



# fewer tickers on a date than this and its Spearman correlation is too coarse to average in
MIN_IC_GROUP = 3


def per_date_ic(pred: np.ndarray, target: np.ndarray, dates: np.ndarray,
                min_group: int = MIN_IC_GROUP) -> tuple[np.ndarray, np.ndarray]:
    """(dates, Spearman correlation of each date), sorted by date: the series behind ``rank_ic``.

    Dates with fewer than ``min_group`` windows, or a constant target, are left out. A constant
    prediction on a date counts as IC 0: it ranks nothing. The evaluation needs the series itself
    (standard error, IC over time); training only its mean and ICIR.
    """
    dates = np.asarray(dates)
    df = pd.DataFrame({"d": dates, "p": np.asarray(pred, np.float64), "t": np.asarray(target, np.float64)})
    df = df[df.groupby("d")["p"].transform("size").to_numpy() >= min_group]
    if df.empty:
        return dates[:0], np.array([], np.float64)
    g = df.groupby("d")
    rp = g["p"].rank(method="average").to_numpy()
    rt = g["t"].rank(method="average").to_numpy()
    r = pd.DataFrame({"d": df["d"].to_numpy(), "p": rp, "t": rt, "pp": rp * rp, "tt": rt * rt, "pt": rp * rt})
    s = r.groupby("d").agg(n=("p", "size"), p=("p", "sum"), t=("t", "sum"),
                           pp=("pp", "sum"), tt=("tt", "sum"), pt=("pt", "sum"))
    cov = (s["pt"] - s["p"] * s["t"] / s["n"]).to_numpy()
    vp = (s["pp"] - s["p"] ** 2 / s["n"]).to_numpy()
    vt = (s["tt"] - s["t"] ** 2 / s["n"]).to_numpy()
    keep = vt > 1e-12
    ic = np.where(vp > 1e-12, cov / np.sqrt(np.maximum(vp * vt, 1e-300)), 0.0)
    return s.index.to_numpy().astype(dates.dtype)[keep], ic[keep]  # pandas widens datetime64[D]


def rank_ic(pred: np.ndarray, target: np.ndarray, dates: np.ndarray,
            min_group: int = MIN_IC_GROUP) -> tuple[float, float, int]:
    """Mean per-date Spearman correlation, its ICIR (mean / std over dates) and the number of dates used.

    The dates' rules are ``per_date_ic``'s. Returns (0, 0, 0) when no date qualifies.
    """
    _, ic = per_date_ic(pred, target, dates, min_group)
    if ic.size == 0:
        return 0.0, 0.0, 0
    mean = float(ic.mean())
    std = float(ic.std(ddof=1)) if ic.size > 1 else 0.0
    return mean, (mean / std if std > 1e-12 else 0.0), int(ic.size)


def regression_metrics(pred: np.ndarray, target: np.ndarray, dates: np.ndarray | None,
                       train_mean: float, prefix: str = "val_") -> dict[str, float]:
    """MAE, RMSE, directional accuracy, rank IC/ICIR and skill vs always-0.5 and always-train-mean."""
    pred = np.asarray(pred, np.float64)
    target = np.asarray(target, np.float64)
    err = pred - target
    mae = float(np.abs(err).mean())
    base_half = float(np.abs(target - 0.5).mean())
    base_mean = float(np.abs(target - train_mean).mean())
    out = {
        f"{prefix}mae": mae,
        f"{prefix}rmse": float(np.sqrt((err * err).mean())),
        f"{prefix}dir_acc": float(((pred > 0.5) == (target > 0.5)).mean()),
        f"{prefix}skill_half": 1.0 - mae / base_half if base_half > 0 else 0.0,
        f"{prefix}skill_mean": 1.0 - mae / base_mean if base_mean > 0 else 0.0,
        "baseline_mae_half": base_half,
        "baseline_mae_mean": base_mean,
    }
    ic, icir, _ = rank_ic(pred, target, dates) if dates is not None else (0.0, 0.0, 0)
    out[f"{prefix}ic"] = ic
    out[f"{prefix}icir"] = icir
    return out
