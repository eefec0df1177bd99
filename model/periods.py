"""Each split's period as an evaluation reports it, and the trading days between validation and test.

The gap is what makes the test period honest: it must hold at least ``required_gap_days`` trading
days (purge gap + embargo) that no validation target and no test input touch.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import numpy as np

from data_prep.dataset import PreparedDataset

__all__ = ["Period", "Periods", "period_info"]

SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class Period:
    """One split: its whole period (first input row to last target day) and its window-end dates."""

    start: str
    end: str
    first_window_end: str
    last_window_end: str
    n_windows: int
    n_dates: int

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class Periods:
    """The splits present, the trading days between consecutive ones, and the rule they must meet."""

    splits: dict[str, Period]  # "train"/"val"/"test" -> Period, for the splits with windows
    gaps: dict[str, int]  # "train_val"/"val_test" -> trading days between them (when both exist)
    required_gap_days: int

    @property
    def test(self) -> Period | None:
        return self.splits.get("test")

    @property
    def trained_up_to(self) -> str | None:
        """The end of the last split a final model trained on (val, else train)."""
        last = self.splits.get("val") or self.splits.get("train")
        return last.end if last else None

    @property
    def val_test_gap(self) -> int | None:
        return self.gaps.get("val_test")

    @property
    def test_after_val_gap(self) -> bool:
        return (self.val_test_gap if self.val_test_gap is not None else -1) >= self.required_gap_days

    def to_json(self) -> dict[str, Any]:
        """evaluation.json's ``periods``: one entry per split, ``<a>_<b>_gap_trading_days``, the rule."""
        out: dict[str, Any] = {s: p.to_json() for s, p in self.splits.items()}
        out.update({f"{k}_gap_trading_days": v for k, v in self.gaps.items()})
        out["required_gap_days"] = self.required_gap_days
        out["test_after_val_gap"] = self.test_after_val_gap
        return out


def period_info(dataset: PreparedDataset) -> Periods:
    """Each split's period and window-end dates, and the trading days between val and test.

    ``start``/``end`` are the split's whole period as data_prep records it (first input row to last
    target day), so the val-test gap counts the days that NO validation target and NO test input
    touch; it must be at least ``required_gap_days`` (purge gap + embargo).
    """
    dates = np.unique(np.asarray(dataset.date, "datetime64[D]"))
    recorded = dataset.meta.get("splits", {})
    splits: dict[str, Period] = {}
    for s in SPLITS:
        if s in dataset.splits and len(dataset.splits[s]):
            d = np.asarray(dataset.window_dates(s), "datetime64[D]")
            rec = recorded.get(s, {})
            splits[s] = Period(start=str(rec.get("start", d.min())), end=str(rec.get("end", d.max())),
                               first_window_end=str(d.min()), last_window_end=str(d.max()),
                               n_windows=int(d.size), n_dates=int(np.unique(d).size))
    gaps = {}
    for a, b in (("train", "val"), ("val", "test")):
        if a in splits and b in splits:
            between = (dates > np.datetime64(splits[a].end)) & (dates < np.datetime64(splits[b].start))
            gaps[f"{a}_{b}"] = int(between.sum())
    return Periods(splits, gaps, int(dataset.gap_days))
