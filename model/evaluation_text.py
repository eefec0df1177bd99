"""The test-period evaluation as people read it: each split's period and the table `evaluate` prints."""
from __future__ import annotations

from typing import Any

import numpy as np

from data_prep.dataset import PreparedDataset

__all__ = ["period_info", "format_evaluation"]


def period_info(dataset: PreparedDataset) -> dict[str, Any]:
    """Each split's period and window-end dates, and the trading days between val and test.

    ``start``/``end`` are the split's whole period as data_prep records it (first input row to last
    target day), so ``val_test_gap_trading_days`` counts the days that NO validation target and NO
    test input touch; it must be at least ``required_gap_days`` (purge gap + embargo).
    """
    dates = np.unique(np.asarray(dataset.date, "datetime64[D]"))
    recorded = dataset.meta.get("splits", {})
    out: dict[str, Any] = {}
    for s in ("train", "val", "test"):
        if s in dataset.splits and len(dataset.splits[s]):
            d = np.asarray(dataset.window_dates(s), "datetime64[D]")
            rec = recorded.get(s, {})
            out[s] = {"start": str(rec.get("start", d.min())), "end": str(rec.get("end", d.max())),
                      "first_window_end": str(d.min()), "last_window_end": str(d.max()),
                      "n_windows": int(d.size), "n_dates": int(np.unique(d).size)}
    gap = dataset.gap_days
    for a, b in (("train", "val"), ("val", "test")):
        if a in out and b in out:
            between = (dates > np.datetime64(out[a]["end"])) & (dates < np.datetime64(out[b]["start"]))
            out[f"{a}_{b}_gap_trading_days"] = int(between.sum())
    out["required_gap_days"] = int(gap)
    out["test_after_val_gap"] = bool(out.get("val_test_gap_trading_days", -1) >= gap)
    return out


def _fmt(v: Any, spec: str) -> str:
    if v is None:
        return "-"
    try:
        return format(v, spec)
    except (TypeError, ValueError):
        return str(v)


def format_evaluation(ev: dict[str, Any]) -> str:
    """The human-readable table `stocktune evaluate` prints."""
    periods = ev["periods"]
    t = periods.get("test", {})
    runs = [r for r in ("model", "control") if r in ev]
    lines = [f"Test period {t.get('start')} .. {t.get('end')} (tuning never read it): {t.get('n_windows')} windows "
             f"ending {t.get('first_window_end')} .. {t.get('last_window_end')} on {t.get('n_dates')} dates",
             f"Model trained on {'+'.join(ev['train_splits'])} up to {periods.get('val', periods.get('train', {})).get('end')}; "
             f"{periods.get('val_test_gap_trading_days')} trading days between the last validation target and the "
             f"first test input (required: {periods['required_gap_days']})", ""]
    if not periods.get("test_after_val_gap", False):
        lines.insert(0, "WARNING: the test period is not separated from the training data by the purge gap.")
    rows = [("MAE", "mae", ".4f"), ("RMSE", "rmse", ".4f"), ("baseline MAE, always 0.5", "baseline_mae_half", ".4f"),
            ("baseline MAE, train mean", "baseline_mae_mean", ".4f"), ("skill vs 0.5", "skill_half", "+.4f"),
            ("  standard error", "skill_half_se", ".4f"), ("skill vs train mean", "skill_mean", "+.4f"),
            ("  standard error ", "skill_mean_se", ".4f"), ("rank IC (mean per date)", "ic", "+.4f"),
            ("  standard error", "ic_se", ".4f"), ("  t-stat", "ic_t", "+.2f"), ("ICIR", "icir", "+.3f"),
            ("dates with IC > 0", "ic_positive_frac", ".1%"), ("directional accuracy", "dir_acc", ".2%"),
            ("  vs sign of return", "dir_acc_ret", ".2%"), ("prediction std", "pred_std", ".4f")]
    w = max(len(r[0]) for r in rows) + 2
    heads = {"model": "model", "control": f"control x{ev['control']['n_controls']}" if "control" in ev else ""}
    lines.append("".ljust(w) + "".join(f"{heads[r]:>12}" for r in runs))
    for label, key, spec in rows:
        lines.append(label.ljust(w) + "".join(f"{_fmt(ev[r].get(key), spec):>12}" for r in runs))
    lines += ["", "Calibration (model): prediction decile vs realized",
              f"{'bin':>4} {'n':>7} {'pred mean':>10} {'rise rate':>10} {'mean target':>12}"]
    for row in ev["model"]["calibration"]:
        lines.append(f"{row['bin']:>4} {row['n']:>7} {row['pred_mean']:>10.4f} {_fmt(row['rise_rate'], '.4f'):>10} "
                     f"{row['target_mean']:>12.4f}")
    if "control" in ev:
        c = ev["control"]
        runs = ", ".join(f"{r['ic']:+.4f}" for r in c.get("runs", []))
        lines += ["", f"Controls (shuffled training labels): IC of each: {runs}; of their mean: {c['ic']:+.4f} "
                      f"(leak SE {c['leak_se']:.4f})",
                  ("LEAK WARNING: " if c["leak_flag"] else "") + c["leak_note"]]
    return "\n".join(lines)
