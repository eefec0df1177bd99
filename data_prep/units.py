"""Unit changes: a ticker quoted in other units from one day on (cents instead of dollars, ×1000 ...).

A vendor that switches a ticker from won to 1,000 won, or from dollars to cents, makes every price
jump by an exact power of ten overnight while nothing else happens: the volume (shares traded) stays
where it was, and the new level persists. Left in, that day is a log return of ±4.6 (×100) that
dwarfs every real move. No split explains it: a split of ratio r moves the volume by r the other
way (see adjust.py, which recognises splits first), and no market moves ×100 in a day.

A unit change is found, on a panel already adjusted for splits, at an overnight jump whose open and
close both sit within a typical opening gap of (previous close) × 10^k, k = ±1 .. ±6, where

- the new level holds over the next days and the old one held before (a bad print that reverts is
  no unit change);
- the volume does not move with the jump: its median over the 10 days after is within a factor of 3
  of the 10 days before (or the ticker has no volume information);
- for ×10 / ÷10 only, which a real (if extreme) move could mimic, the open must sit tighter on the
  power of ten and the day's volume must not explode as on news.

A jump of ×100 or more (or ÷100 ...) that does not persist is refused: it is a bad print or a
few rows in other units, and neither keeping nor adjusting it gives true prices.

Each found change is adjusted like a split but on prices only: the rows before it are multiplied by
its factor, so the whole history is on the scale of the ticker's latest date; volumes stay as they
are. The adjustment lists it per ticker and date with its factor (new scale / old scale: 100 for a
ticker quoted in cents from that day on).
"""
from __future__ import annotations

from dataclasses import replace

import numpy as np

from common.errors import InputError

from .jumps import levels_around, volume_shift
from .panel import Panel
from .sources import describe_row

__all__ = ["detect_unit_changes", "adjust_units", "MAX_POWER"]

MAX_POWER = 6  # up to ×1,000,000 (a currency redenomination)
_LOG10 = np.log(10.0)
_MIN_JUMP = np.log(5.0)  # candidates: half a power of ten in log terms
_PREFILTER = 4.9  # open / previous close beyond this (or below its inverse): a superset of the candidates
_TOL = np.log(1.4)  # the open and close of the day at most this far from the exact power of ten
_TOL_10 = np.log(1.15)  # ×10 / ÷10: the open must sit this close (a real move can reach ×10, rarely exactly)
_VOLUME_UNCHANGED = np.log(3.0)  # median volume after / before within this factor
_DAYS = 5  # days each side whose median level must sit at the old / new scale
_VOLUME_DAYS = 10


def detect_unit_changes(panel: Panel) -> list[dict]:
    """The unit changes of a sorted, split-adjusted panel: [{ticker, date, factor, confidence, row}], in row order.

    ``row`` is the panel row of the first day at the new scale.
    """
    n = len(panel)
    if n < 2:
        return []
    starts = panel.starts
    lc = np.log(panel.close)
    trading = ~(panel.volume <= 0)  # NaN (no volume information) trades every day
    # one cheap pass: the rows whose open is beyond x4.9 or /4.9 of the previous close, a superset of the
    # candidates (an overnight jump beyond x5 in log terms), which alone are then looked at in logs
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = panel.open[1:] / panel.close[:-1]
    near = np.flatnonzero((ratio > _PREFILTER) | (ratio < 1.0 / _PREFILTER)) + 1
    del ratio
    m_near = np.log(panel.open[near]) - lc[near - 1]  # log(open / previous close)
    keep = (panel.ticker[near] == panel.ticker[near - 1]) & trading[near] & (np.abs(m_near) > _MIN_JUMP)
    cand, m_open = near[keep], m_near[keep]
    if cand.size == 0:
        return []
    k = np.clip(np.round(m_open / _LOG10), -MAX_POWER, MAX_POWER)
    lf = k * _LOG10  # log factor: new scale / old scale
    e_open = np.abs(m_open - lf)
    e_close = np.abs(lc[cand] - lc[cand - 1] - lf)
    t = panel.ticker[cand]
    lo, hi = starts[t], starts[t + 1]
    later, earlier = levels_around(lc, trading, cand, lo, hi, _DAYS)
    # the new level holds, and the old one held (a day that reverts a one-day bad print is no change)
    persists = (np.abs(later - lf) < np.abs(later)) & (np.abs(earlier) < np.abs(earlier - lf))
    vol, v_before, dv = volume_shift(panel.volume, trading, cand, lo, hi, _VOLUME_DAYS)
    flat_volume = np.isnan(dv) | (np.abs(dv) < _VOLUME_UNCHANGED)
    spike = np.where(np.isnan(v_before), 0.0, vol - v_before)  # the day's volume vs the usual
    ten = np.abs(k) == 1
    exact = np.where(ten, (e_open < _TOL_10) & ~(spike > np.log(4.0)), e_open < _TOL)
    ok = (k != 0) & exact & (e_close < _TOL) & persists & flat_volume
    _refuse_reverting(panel, cand[(np.abs(k) >= 2) & exact & (e_close < _TOL) & ~persists], k, cand)
    confidence = 1.0 - 0.5 * np.clip(e_open / _TOL, 0.0, 1.0) - 0.25 * np.isnan(dv)
    return [{"ticker": panel.tickers[int(panel.ticker[i])], "date": str(panel.date[i]),
             "factor": float(10.0 ** kk), "confidence": round(float(c), 3), "row": int(i)}
            for i, kk, c in zip(cand[ok], k[ok], confidence[ok])]


def _refuse_reverting(panel: Panel, rows: np.ndarray, k: np.ndarray, cand: np.ndarray) -> None:
    """A ×100-or-more jump that does not hold is a bad print (or a few rows in other units): no market
    moves ×100 and back, and neither adjusting nor keeping it gives true prices, so it is an error."""
    if rows.size == 0:
        return
    i = int(rows[0])
    power = int(k[np.searchsorted(cand, i)])
    name = panel.tickers[int(panel.ticker[i])]
    raise InputError(
        f"{describe_row(panel, i)}, ticker {name!r}, field 'close': the price jumps x{10.0 ** power:g} overnight "
        f"(close {panel.close[i - 1]:g} on {panel.date[i - 1]}, open {panel.open[i]:g} and close {panel.close[i]:g} "
        f"on {panel.date[i]}) and does not stay there, so it is neither a change of units nor a real move; fix "
        f"or delete the rows in other units.")


def adjust_units(panel: Panel) -> tuple[Panel, list[dict]]:
    """(panel with every unit change undone on prices, adjustments [{ticker, date, factor, method, confidence}]).

    Rows before a change are multiplied by its factor (the history on the latest date's scale), as
    a split adjustment would, but volumes are left alone: the number of shares did not change.
    """
    found = detect_unit_changes(panel)
    if not found:
        return panel, []
    n = len(panel)
    mark = np.zeros(n + 1)
    for f in found:  # the log factor applies to the rows before f["row"] of the same ticker
        mark[f["row"] - 1] += np.log(f["factor"])
    suffix = np.cumsum(mark[::-1])[::-1]  # suffix[i] = sum(mark[i:])
    log_f = suffix[:n] - suffix[panel.starts[1:]][panel.ticker]
    scale = np.exp(log_f)
    adjusted = replace(panel, open=panel.open * scale, high=panel.high * scale, low=panel.low * scale,
                       close=panel.close * scale)
    return adjusted, [{"ticker": f["ticker"], "date": f["date"], "factor": f["factor"], "method": "unit_change",
                       "confidence": f["confidence"]} for f in found]
