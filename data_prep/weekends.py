"""Rows on Saturdays and Sundays: stale copies are dropped, rows with trading are kept; both reported.

Some vendors and spreadsheet exports fill every calendar day, repeating Friday's close with volume
0 on the weekend. Kept, such rows become trading days: they add windows, shift split boundaries and
dilute every return-based feature with zero moves, all without a word. A weekend row is **stale**
when it carries nothing new: no volume (0, or a ticker without volume information) and every
price equal to the previous row's close (or the whole previous bar repeated). Stale weekend rows are
dropped. A weekend row with trading (volume, or prices of its own) is kept, since some markets
trade on Sundays (Tadawul trades Sunday to Thursday, the UAE exchanges did until 2022) or hold
Saturday make-up sessions, and reported.

There is no holiday calendar option: a weekday holiday row cannot be told from a halt (volume 0 and
a flat price, which windows.py already treats as a halt), so holidays are not checked.
"""
from __future__ import annotations

import numpy as np

from .panel import Panel
from .sources import describe_row

__all__ = ["weekend_rows"]

_PRICES = ("open", "high", "low", "close")


def _weekday(date: np.ndarray) -> np.ndarray:
    """Monday 0 .. Sunday 6 (1970-01-01 was a Thursday)."""
    return (date.astype("datetime64[D]", copy=False).view(np.int64) + 3) % 7


def weekend_rows(p: Panel) -> tuple[Panel, list[dict]]:
    """(panel without stale weekend rows, per ticker {ticker, dropped_stale, kept_trading, first}).

    ``p`` is sorted by (ticker, date). ``first`` names the ticker's first weekend row in its file.
    """
    weekend = _weekday(p.date) >= 5
    if not weekend.any():
        return p, []
    n = len(p)
    prev = np.zeros(n, dtype=bool)
    prev[1:] = p.ticker[1:] == p.ticker[:-1]  # the row has a previous row of the same ticker
    i = np.flatnonzero(weekend & prev)
    no_volume = ~(p.volume[i] > 0)
    prices = [getattr(p, name) for name in _PRICES]
    close_repeated = np.logical_and.reduce([x[i] == p.close[i - 1] for x in prices])
    bar_repeated = np.logical_and.reduce([x[i] == x[i - 1] for x in prices])
    stale_rows = i[no_volume & (close_repeated | bar_repeated)]
    stale = np.zeros(n, dtype=bool)
    stale[stale_rows] = True
    kept = weekend & ~stale
    nt = len(p.tickers)
    n_stale = np.bincount(p.ticker[stale], minlength=nt)
    n_kept = np.bincount(p.ticker[kept], minlength=nt)
    first = np.full(nt, -1, dtype=np.int64)
    rows = np.flatnonzero(weekend)
    first[p.ticker[rows][::-1]] = rows[::-1]  # each ticker's first weekend row (rows are sorted by ticker, date)
    report = [{"ticker": p.tickers[k], "dropped_stale": int(n_stale[k]), "kept_trading": int(n_kept[k]),
               "first": describe_row(p, int(first[k]))} for k in np.flatnonzero(n_stale + n_kept)]
    return (p.take(~stale) if stale.any() else p), report
