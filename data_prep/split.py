"""Leak-free split of the windows by time into train / val / test.

The rule (provable by construction, checked over all windows in tests/data_prep/test_split.py):
every day a sample touches, inputs AND target, lies inside its split's period, and consecutive
periods are separated by ``cfg.gap_days`` trading days (purge_gap, at least look_ahead, plus the
embargo) that no sample touches at all. With trading days d_0 < d_1 < ... (the union of all
tickers' dates) and period boundaries b1 < b2 (from train_frac/val_frac or train_end/val_end):

    train:  last target day  <= d[b1]
    val:    first input day  >= d[b1 + gap + 1]   and   last target day <= d[b2]
    test:   first input day  >= d[b2 + gap + 1]

so the last training target day is more than ``gap`` trading days before the first validation
input day, and likewise val -> test. It uses the dates of each window's own rows, so a ticker
with missing days cannot slip across. The price is look_back + look_ahead + gap days of windows at
each boundary. The test period is reserved for the final evaluation (`stocktune evaluate`); the
tuner optimizes on val only.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from common.errors import InputError

from .config import PrepConfig
from .dataset import SPLITS
from .features import WARMUP
from .panel import Panel

__all__ = ["SplitPlan", "split_windows", "trading_days"]


@dataclass(frozen=True)
class SplitPlan:
    """Window ends per split plus the calendar periods they were drawn from."""

    ends: dict[str, np.ndarray]  # split -> int64 window end rows
    periods: dict[str, tuple[str, str]]  # split -> (first day, last day) any of its samples may touch
    gap_days: int

    def last_train_day(self) -> np.datetime64:
        return np.datetime64(self.periods["train"][1])


def trading_days(date: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(calendar, day index of each row): the sorted union of dates, in O(n) via bincount (no 10M-row sort)."""
    d = date.astype("datetime64[D]", copy=False).view(np.int64)  # a view: no copies of 8M dates
    if d.size == 0:
        return np.zeros(0, "datetime64[D]"), np.zeros(0, np.int64)
    lo = int(d.min())
    present = np.bincount(d - lo) > 0
    days = np.flatnonzero(present)
    index_of = np.cumsum(present) - 1
    return (days + lo).astype("datetime64[D]"), index_of[d - lo]


def _boundary(calendar: np.ndarray, day: str) -> int:
    """Index of the last trading day <= day."""
    return int(np.searchsorted(calendar, np.datetime64(day), side="right")) - 1


def split_windows(panel: Panel, ends: np.ndarray, cfg: PrepConfig, where: str = "[data]") -> SplitPlan:
    """Assign candidate window ends to train/val/test by the rule in the module docstring."""
    calendar, _ = trading_days(panel.date)
    nd = calendar.size
    gap = cfg.gap_days
    if cfg.train_end is not None:
        b1, b2 = _boundary(calendar, cfg.train_end), _boundary(calendar, cfg.val_end)  # type: ignore[arg-type]
    else:
        b1 = int(round(cfg.train_frac * nd)) - 1
        b2 = int(round((cfg.train_frac + cfg.val_frac) * nd)) - 1
    bounds = {"train": (0, b1), "val": (b1 + gap + 1, b2), "test": (b2 + gap + 1, nd - 1)}

    first_day = panel.date[ends - cfg.look_back + 1]
    last_day = panel.date[ends + cfg.look_ahead]
    out: dict[str, np.ndarray] = {}
    periods: dict[str, tuple[str, str]] = {}
    for name in SPLITS:
        lo, hi = bounds[name]
        if lo > hi or lo >= nd or hi < 0:
            keep = np.zeros(ends.shape, dtype=bool)
            periods[name] = ("", "")
        else:
            keep = (first_day >= calendar[lo]) & (last_day <= calendar[hi])
            periods[name] = (str(calendar[lo]), str(calendar[hi]))
        out[name] = ends[keep]
        if out[name].size == 0:
            raise InputError(
                f"the {name} split has no windows: the data spans {nd} trading days "
                f"({calendar[0] if nd else '-'} .. {calendar[-1] if nd else '-'}), and each split needs "
                f"look_back + look_ahead = {cfg.look_back + cfg.look_ahead} days after the {WARMUP}-day feature "
                f"warm-up plus a {gap}-day gap between splits; use more days, smaller look_back, or other "
                f"train_frac/val_frac or train_end/val_end ({where})."
            )
    return SplitPlan(ends=out, periods=periods, gap_days=gap)
