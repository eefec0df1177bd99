"""Split/merge adjustment: put every ticker's history on the price scale of its latest date.

An unadjusted 2-for-1 split halves the price overnight; left in, it is the largest "return" in the
data and a model learns nothing but that. The adjustment uses the best information the input has, in
this order (``mode="auto"``):

1. ``adj_close`` column: factor = adj_close / close per row; OHLC are multiplied by it and volume
   divided (Yahoo convention: this also folds in dividends).
2. ``adj_factor`` column: a cumulative factor that grows at each split (2 after a 2-for-1 split
   when it was 1 before); factor = adj_factor / (the ticker's last adj_factor).
3. events (ticker, date, ratio): ``ratio`` = shares after / shares before (2 for a 2-for-1 split,
   0.1 for a 1-for-10 reverse split / merge); ``date`` = the first trading day at the new scale.
   Prices of the rows BEFORE ``date`` are divided by ``ratio`` and their volumes multiplied by it.
4. detection, when nothing else is given: an overnight jump whose size is close to 1/r for a common
   ratio r, on the open as well as the close, that does not revert over the next days, with volume
   that is consistent with a split (changes by about r, or stays flat when the volume is already
   adjusted) rather than exploding as on a news crash. Every candidate needs a jump of at least 40%
   (log 1.4 > the 30% daily limit of the Korean market, so on such data no ordinary day qualifies).

Then, whichever of these applied, unit changes (a ticker quoted ×100 from one day on, volume
unchanged) are undone on prices only (units.py). ``mode="none"`` returns the panel unchanged.
"""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd

from common.errors import InputError

from .jumps import levels_around, volume_shift, window_mean
from .panel import Panel
from .units import adjust_units

__all__ = ["adjust", "apply_factors", "detect_splits", "DETECT_RATIOS"]

DETECT_RATIOS = np.array([2.0, 3.0, 4.0, 5.0, 10.0, 20.0, 1 / 2, 1 / 3, 1 / 5, 1 / 10])
_MIN_JUMP = np.log(1.4)  # candidates: overnight |log move| beyond this
_FACTOR_JUMP = np.log(1.2)  # adj_close factor changes beyond this are reported as splits (dividends are smaller)
_REVERT_DAYS = 5  # trading days after the jump whose median level must stay at the new scale
_VOLUME_DAYS = 10  # trading days each side for the volume comparison


def apply_factors(panel: Panel, factor: np.ndarray) -> Panel:
    """OHLC * factor, volume / factor: the panel on the scale where ``factor`` == 1."""
    return replace(panel, open=panel.open * factor, high=panel.high * factor, low=panel.low * factor,
                   close=panel.close * factor, volume=panel.volume / factor)


def _ticker_end_value(panel: Panel, values: np.ndarray) -> np.ndarray:
    """Per row: ``values`` at the last row of the same ticker."""
    last = panel.starts[1:] - 1
    return values[last[panel.ticker]]


def _factor_summary(panel: Panel, factor: np.ndarray, method: str) -> list[dict]:
    """One dict per ticker: rows changed, total factor and the dates where the factor jumped (the splits)."""
    starts = panel.starts
    out = []
    jump = np.zeros(len(panel))
    jump[1:] = np.log(factor[1:] / factor[:-1])
    jump[starts[:-1][starts[:-1] < len(panel)]] = 0.0  # no jump across tickers
    big = np.flatnonzero(np.abs(jump) > _FACTOR_JUMP)
    changed = np.bincount(panel.ticker, weights=(np.abs(factor - 1) > 1e-6), minlength=len(panel.tickers))
    for k, name in enumerate(panel.tickers):
        a, b = int(starts[k]), int(starts[k + 1])
        if a == b:
            continue
        sel = big[(big >= a) & (big < b)]
        out.append({"ticker": name, "method": method, "n_days_changed": int(changed[k]),
                    "total_factor": round(float(factor[b - 1] / factor[a]), 6),
                    "splits": [{"date": str(panel.date[j]), "ratio": round(float(np.exp(jump[j])), 4)}
                               for j in sel]})
    return out


def _events_factor(panel: Panel, events: pd.DataFrame) -> tuple[np.ndarray, list[dict]]:
    """Factor per row from (ticker, date, ratio) events: rows before an event are divided by its ratio."""
    n = len(panel)
    code = {t: k for k, t in enumerate(panel.tickers)}
    ev_t = np.array([code.get(str(t), -1) for t in events["ticker"]], dtype=np.int64)
    ev_d = pd.to_datetime(events["date"]).to_numpy().astype("datetime64[D]")
    ratio = np.asarray(events["ratio"], dtype=np.float64)
    known = ev_t >= 0
    ev_t, ev_d, ratio = ev_t[known], ev_d[known], ratio[known]
    starts = panel.starts
    # position of the first row at or after the event date, within the event's ticker
    key_rows = panel.ticker.astype(np.int64) * 1_000_000 + (panel.date.astype(np.int64) + 500_000)
    key_ev = ev_t * 1_000_000 + (ev_d.astype(np.int64) + 500_000)
    pos = np.searchsorted(key_rows, key_ev)
    has_before = pos > starts[ev_t]
    ev_t, ev_d, ratio, pos = ev_t[has_before], ev_d[has_before], ratio[has_before], pos[has_before]
    # log divisor of row i = sum of log ratios of its ticker's events after it: a suffix sum per ticker
    mark = np.zeros(n + 1)
    np.add.at(mark, pos - 1, np.log(ratio))
    suffix = np.cumsum(mark[::-1])[::-1]  # suffix[i] = sum(mark[i:])
    log_div = suffix[:n] - suffix[starts[1:]][panel.ticker]
    adjustments = [{"ticker": panel.tickers[int(t)], "date": str(d), "ratio": float(r), "method": "events"}
                   for t, d, r in zip(ev_t, ev_d, ratio)]
    return np.exp(-log_div), adjustments


def detect_splits(panel: Panel) -> pd.DataFrame:
    """Unadjusted splits/merges found in a sorted panel: DataFrame[ticker, date, ratio, confidence].

    Vectorized: one pass over all rows finds the few overnight jumps beyond 40%; only those are
    scored, each against small windows of its own ticker.
    """
    n = len(panel)
    empty = pd.DataFrame({"ticker": pd.Series([], dtype=object), "date": pd.Series([], dtype="datetime64[s]"),
                          "ratio": pd.Series([], dtype=float), "confidence": pd.Series([], dtype=float)})
    if n < 2:
        return empty
    starts = panel.starts
    lc, lo_ = np.log(panel.close), np.log(panel.open)
    trading = ~(panel.volume <= 0)  # NaN: a ticker without volume information trades every day
    same = np.zeros(n, dtype=bool)
    same[1:] = panel.ticker[1:] == panel.ticker[:-1]
    x_close = np.zeros(n)
    x_open = np.zeros(n)
    x_close[1:] = lc[:-1] - lc[1:]  # -log(close / previous close): log r for a split of ratio r
    x_open[1:] = lc[:-1] - lo_[1:]
    x_close[~same] = 0.0
    x_open[~same] = 0.0
    # per-ticker typical open gap (a robust scale for how far an open may sit from 1/r by chance)
    gap = np.minimum(np.abs(x_open), 0.2)
    gap_valid = same & trading
    cnt = np.bincount(panel.ticker, weights=gap_valid, minlength=len(panel.tickers))
    gap_scale = 1.25 * np.bincount(panel.ticker, weights=gap * gap_valid, minlength=len(panel.tickers)) / np.maximum(cnt, 1)
    cand = np.flatnonzero(same & trading & ((np.abs(x_close) > _MIN_JUMP) | (np.abs(x_open) > _MIN_JUMP)))
    if cand.size == 0:
        return empty
    log_r = np.log(DETECT_RATIOS)
    # the open is the cleanest view of the new scale; fall back on the close when the open is odd
    k_open = np.argmin(np.abs(x_open[cand, None] - log_r[None, :]), axis=1)
    lr = log_r[k_open]
    e_open = np.abs(x_open[cand] - lr)
    e_close = np.abs(x_close[cand] - lr)
    t = panel.ticker[cand]
    lo, hi = starts[t], starts[t + 1]
    # no reversion: the median close of the next days sits at the new scale, not the old one; and
    # the old scale was established: the previous days sat where the last close was (so the day that
    # reverts a one-day bad print is not taken for a split either)
    level, old = levels_around(lc, trading, cand, lo, hi, _REVERT_DAYS)
    keeps_scale = (np.abs(level + lr) < np.abs(level)) & (np.abs(old) < np.abs(old + lr))
    # volume: after/before ratio in log; a split makes it about log r (or 0 if volume is pre-adjusted)
    vol, v_before, dv = volume_shift(panel.volume, trading, cand, lo, hi, _VOLUME_DAYS)
    v_lo, v_hi = np.minimum(0.0, lr), np.maximum(0.0, lr)
    v_out = np.where(np.isnan(dv), 0.0, np.maximum(v_lo - dv, 0.0) + np.maximum(dv - v_hi, 0.0))
    # local scale too: in a volatile spell (GARCH) opens stray further than the ticker's average
    gap_local = window_mean(gap, gap_valid, cand, lo, hi, np.arange(-20, 0))
    s = np.maximum(np.fmax(gap_scale[t], 1.25 * gap_local), 0.005)
    z_open = e_open / (2.0 * s)
    # a news crash trades many times its usual volume on the day itself; a split changes it by ~r
    spike = np.where(trading[cand], vol, np.nan) - v_before - v_hi - 1.0
    z_vol = v_out / 0.6 + np.where(np.isnan(spike), 0.0, np.maximum(spike, 0.0)) / 0.5
    score = z_open**2 + z_vol**2
    ok = (score <= 4.0) & keeps_scale & (e_close < 0.36) & (np.abs(x_open[cand]) > _MIN_JUMP)
    # x10 / /10 with the volume where it was is a change of units, not a split (units.py takes it)
    ok &= ~((np.abs(np.abs(lr) - np.log(10.0)) < 1e-9) & (np.abs(dv) < np.log(3.0)))
    confidence = np.clip(1.0 - score / 4.0, 0.0, 1.0) * 0.5 + 0.5 * (~np.isnan(dv))
    sel = np.flatnonzero(ok)
    rows = cand[sel]
    return pd.DataFrame({"ticker": np.array(panel.tickers, dtype=object)[panel.ticker[rows]],
                         "date": pd.to_datetime(panel.date[rows]),
                         "ratio": DETECT_RATIOS[k_open[sel]],
                         "confidence": np.round(confidence[sel], 3)})


def adjust(panel: Panel, events: pd.DataFrame | None, mode: str = "auto") -> tuple[Panel, list[dict]]:
    """Adjust a sorted, validated panel for splits/merges, then for unit changes; returns (adjusted
    panel, adjustments).

    Adjustments: for 'adj_close' one summary per ticker ({ticker, method, n_days_changed,
    total_factor, splits: [{date, ratio}]}); otherwise one dict per event ({ticker, date, ratio,
    method: 'adj_factor'|'events'|'detected', confidence (detected only)}); then one dict per unit
    change ({ticker, date, factor, method: 'unit_change', confidence}, see units.py), which any
    source of split information may leave behind.
    """
    if mode not in ("auto", "none"):
        raise InputError(f"adjust must be 'auto' or 'none', but got adjust={mode!r}.")
    if mode == "none" or len(panel) == 0:
        return panel, []
    panel, adjustments = _adjust_splits(panel, events)
    panel, units = adjust_units(panel)
    return panel, adjustments + units


def _adjust_splits(panel: Panel, events: pd.DataFrame | None) -> tuple[Panel, list[dict]]:
    """The split/merge step of ``adjust``: the best information the input has, in the module's order."""
    if "adj_close" in panel.extra:
        factor = panel.extra["adj_close"] / panel.close
        factor = factor / _ticker_end_value(panel, factor)  # latest date on its own scale
        return apply_factors(panel, factor), _factor_summary(panel, factor, "adj_close")
    if "adj_factor" in panel.extra:
        af = panel.extra["adj_factor"]
        factor = af / _ticker_end_value(panel, af)
        summary = _factor_summary(panel, factor, "adj_factor")
        adjustments = [{"ticker": s["ticker"], "date": sp["date"], "ratio": sp["ratio"], "method": "adj_factor"}
                       for s in summary for sp in s["splits"]]
        return apply_factors(panel, factor), adjustments
    method = "events"
    if events is None:
        events = detect_splits(panel)
        method = "detected"
    if len(events) == 0:
        return panel, []
    factor, adjustments = _events_factor(panel, events)
    if method == "detected":
        conf = {(str(t), str(pd.Timestamp(d).date())): c
                for t, d, c in zip(events["ticker"], events["date"], events["confidence"])}
        for a in adjustments:
            a["method"] = "detected"
            a["confidence"] = float(conf.get((a["ticker"], a["date"]), 0.0))
    return apply_factors(panel, factor), adjustments
