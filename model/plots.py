"""PNG plots of a test-period evaluation: calibration, IC per date over time, predicted vs realized.

matplotlib is imported lazily with the Agg backend so that importing ``model`` stays cheap and
works on a machine without a display.
"""
from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from .evaluation import Metrics

__all__ = ["PLOT_FILES", "write_evaluation_plots"]

# fixed names so that docs, the dashboard and users can find them
PLOT_FILES = {
    "calibration": "eval_calibration.png",
    "ic": "eval_ic_per_date.png",
    "scatter": "eval_pred_vs_realized.png",
}


def _plt():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def write_evaluation_plots(out_dir: str | Path, evaluation: Mapping[str, Metrics],
                           series: Mapping[str, Mapping[str, np.ndarray]]) -> dict[str, str]:
    """Write the three PNGs into ``out_dir``; return {plot: file name}.

    ``evaluation`` maps "model"/"control" to their ``evaluation.Metrics`` (with the calibration
    tables); ``series`` maps them to arrays: ``ic_dates``, ``ic`` (per date) and ``pred``,
    ``target`` (per window).
    """
    plt = _plt()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    runs = [name for name in ("model", "control") if name in series and name in evaluation]
    colors = {"model": "tab:blue", "control": "tab:gray"}

    # 1. calibration: predicted bin mean vs realized rise rate (and mean target)
    fig, ax = plt.subplots(figsize=(6, 5))
    for name in runs:
        table = evaluation[name].calibration
        x = [row.pred_mean for row in table]
        ax.plot(x, [row.rise_rate for row in table], "o-", color=colors[name], label=f"{name}: rise rate")
        ax.plot(x, [row.target_mean for row in table], "s--", color=colors[name], alpha=0.6,
                label=f"{name}: mean target")
    lo = min([0.4] + [row.pred_min for n in runs for row in evaluation[n].calibration])
    hi = max([0.6] + [row.pred_max for n in runs for row in evaluation[n].calibration])
    ax.plot([lo, hi], [lo, hi], ":", color="black", lw=1, label="ideal")
    ax.set_xlabel("predicted rise probability (decile mean)")
    ax.set_ylabel("realized")
    ax.set_title("Calibration on the test period")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out_dir / PLOT_FILES["calibration"], dpi=90)
    plt.close(fig)

    # 2. rank IC per date over time, with a rolling mean so that regimes are visible
    fig, ax = plt.subplots(figsize=(8, 4))
    for name in runs:
        d = np.asarray(series[name]["ic_dates"], "datetime64[D]")
        ic = np.asarray(series[name]["ic"], np.float64)
        if ic.size == 0:
            continue
        ax.plot(d, ic, lw=0.5, alpha=0.35, color=colors[name])
        w = max(1, min(20, ic.size // 5))
        roll = np.convolve(ic, np.ones(w) / w, mode="same")
        ax.plot(d, roll, lw=1.6, color=colors[name],
                label=f"{name}: {w}-date mean (IC={evaluation[name].ic:+.3f})")
    ax.axhline(0.0, color="black", lw=0.8)
    ax.set_ylabel("rank IC (Spearman, per date)")
    ax.set_title("Rank IC per date, test period")
    ax.legend(fontsize=8)
    fig.autofmt_xdate()
    fig.tight_layout()
    fig.savefig(out_dir / PLOT_FILES["ic"], dpi=90)
    plt.close(fig)

    # 3. predicted vs realized target (hexbin: test periods have tens of thousands of windows)
    fig, axes = plt.subplots(1, len(runs) or 1, figsize=(5 * max(1, len(runs)), 4.5), squeeze=False)
    for ax, name in zip(axes[0], runs):
        p = np.asarray(series[name]["pred"], np.float64)
        t = np.asarray(series[name]["target"], np.float64)
        if p.size:
            ax.hexbin(p, t, gridsize=40, mincnt=1, cmap="Blues" if name == "model" else "Greys")
        ax.set_xlabel("predicted")
        ax.set_ylabel("realized target")
        ax.set_title(f"{name}: MAE={evaluation[name].mae:.4f}")
    fig.tight_layout()
    fig.savefig(out_dir / PLOT_FILES["scatter"], dpi=90)
    plt.close(fig)
    return dict(PLOT_FILES)
