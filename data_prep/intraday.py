"""Intraday bars: several rows of one ticker on one day, told apart from duplicates by their time.

Prep works on daily bars. Intraday input is named as such by ``validate`` (rather than as "date
appears twice"), and with ``resample = "daily"`` it is aggregated here: the day's first open, highest
high, lowest low, last close, summed volume, and the adjusted close / adjustment factor of the day's
last bar (the adjustment that applies at the close).
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import numpy as np

from .panel import Panel

__all__ = ["intraday_days", "to_daily"]


def intraday_days(p: Panel) -> tuple[np.ndarray, int]:
    """(bool [n]: the 2nd, 3rd, ... row of a (ticker, day) in a sorted panel; the most rows on one day)."""
    multi = np.zeros(len(p), dtype=bool)
    multi[1:] = (p.ticker[1:] == p.ticker[:-1]) & (p.date[1:] == p.date[:-1])
    if not multi.any():
        return multi, 1
    group = np.cumsum(~multi)
    return multi, int(np.bincount(group).max())


def to_daily(p: Panel, multi: np.ndarray, repairs: list[dict], describe_row: Callable[[Panel, int], str]) -> Panel:
    """One bar per (ticker, day) of a sorted panel; each ticker with intraday bars is listed in ``repairs``."""
    first = np.flatnonzero(~multi)  # each day's first bar
    last = np.append(first[1:], len(p)) - 1  # ... and its last
    had = np.bincount(p.ticker[multi], minlength=len(p.tickers))
    bars = np.bincount(p.ticker, minlength=len(p.tickers))
    days = np.bincount(p.ticker[first], minlength=len(p.tickers))
    for k in np.flatnonzero(had):
        j = int(np.flatnonzero(multi & (p.ticker == k))[0])
        repairs.append({"action": "resampled_daily", "ticker": p.tickers[k], "bars": int(bars[k]),
                        "days": int(days[k]), "first": describe_row(p, j)})
    extra = {name: col[last] for name, col in p.extra.items() if name in ("adj_close", "adj_factor")}
    return replace(p, ticker=p.ticker[first], date=p.date[first], open=p.open[first],
                   high=np.maximum.reduceat(p.high, first), low=np.minimum.reduceat(p.low, first),
                   close=p.close[last], volume=np.add.reduceat(p.volume, first),
                   file_id=None if p.file_id is None else p.file_id[first],
                   row=None if p.row is None else p.row[first], extra=extra)
