"""Validation metrics, numpy-side (nothing here keeps a tensor or a graph alive).

The target is a rise probability in [0, 1]; the prediction is too. MAE is the objective; the rest
tell whether a low MAE means anything: directional accuracy, the per-date rank IC (does the model
order the tickers of one day correctly?) and the skill against two trivial predictors measured on the
same windows.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

__all__ = ["regression_metrics", "rank_ic", "per_date_ic", "MIN_IC_GROUP", "Metric", "METRICS", "OBJECTIVES",
           "VALIDATION_METRICS"]


@dataclass(frozen=True)
class Metric:
    """How a per-epoch metric is shown, and whether a study may optimise it (and in which direction)."""

    label: str
    fmt: str  # str.format spec of one value
    direction: str | None = None  # "minimize" | "maximize" for a possible study objective


# every metric an epoch records that people read, in the order notes and tables show them
METRICS: dict[str, Metric] = {
    "val_mae": Metric("validation MAE", "{:.5f}", "minimize"),
    "val_rmse": Metric("validation RMSE", "{:.5f}", "minimize"),
    "val_ic": Metric("IC (Spearman, per date)", "{:+.4f}", "maximize"),
    "val_icir": Metric("ICIR", "{:+.3f}", "maximize"),
    "val_dir_acc": Metric("directional accuracy", "{:.2%}", "maximize"),
    "val_skill_half": Metric("skill vs constant 0.5", "{:+.2%}", "maximize"),
    "val_skill_mean": Metric("skill vs train mean", "{:+.2%}", "maximize"),
    "baseline_mae_half": Metric("baseline MAE (0.5)", "{:.5f}"),
    "baseline_mae_mean": Metric("baseline MAE (train mean)", "{:.5f}"),
    "train_loss": Metric("train loss", "{:.5f}"),
    "samples_per_s": Metric("throughput (samples/s)", "{:,.0f}"),
    "epoch_time_s": Metric("epoch time (s)", "{:.2f}"),
    "gpu_peak_mb": Metric("GPU peak memory (MB)", "{:,.0f}"),
}
# metric -> the direction that makes sense for it, for a study's `metric`
OBJECTIVES: dict[str, str] = {k: m.direction for k, m in METRICS.items() if m.direction}
# the validation metrics of an epoch (what a trial records of its best epoch)
VALIDATION_METRICS: tuple[str, ...] = tuple(OBJECTIVES)

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
