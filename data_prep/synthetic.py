"""A synthetic daily market at the scale of the original Korean database, for tests and benchmarks.

Real data cannot ship with the repo and the bundled sample has five tickers, so the scale tests
(2,367 tickers x ~4,200 days, about 10M rows) and the "does the model find real skill" tests run on
this generator. It plants what makes real data hard:

- volatility clustering (GARCH(1,1) per ticker plus a market factor) and fat tails (student-t, df=4);
- the +-30% daily price limit of the Korean market (returns are clipped to [-30%, +30%]);
- halts: zero-volume days with a flat price, mostly 1-3 days, a few tickers with one long halt;
- listings and delistings: tickers start and end at different dates, a few are very short;
- UNADJUSTED splits and reverse splits (ratios 2, 3, 5, 10, 1/2, 1/5, 1/10): on the event date the
  price jumps by 1/ratio and volume scales by ratio, with no reversion; the events are returned so
  that tests can check detection and adjustment;
- optionally (``signal`` != 0) a predictable component: each day's return includes
  ``-0.1 * signal * (sum of the previous 5 daily log returns)``, i.e. mean reversion of the past week
  (momentum when negative). With ``signal=0`` the adjusted price is a pure (GARCH) random walk and no
  model should beat the naive baselines;
- optionally (``pattern`` != 0) a predictable component that a model must WORK to find: each day's
  return includes ``pattern * vol * s`` with s = sign(R[d-25..d-6]) * sign(R[d-45..d-26]), the product
  (an XOR) of the signs of two 20-day returns lagged 6 and 26 days. Learning it takes a look-back
  of 45+ days, a non-linear interaction and enough capacity and training; a linear model of recent
  returns sees nothing. Both windows end 6 days back, so the drift over the next 5 days is known at
  the window's last day: ``planted_drift`` returns it per row (the oracle's prediction).

Everything is vectorized over tickers; the only Python loop is over days (a GARCH recursion needs
yesterday's variance), each step a handful of numpy ops on a vector of ``tickers`` values.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from .panel import Panel

__all__ = ["generate", "write_market", "GENERATOR_VERSION", "SPLIT_RATIOS"]

# bump when the generated numbers change for a given (tickers, days, seed, signal): part of the cache key
GENERATOR_VERSION = "synthetic-v2"

SPLIT_RATIOS = np.array([2.0, 3.0, 5.0, 10.0, 0.5, 0.2, 0.1])
_SPLIT_PROBS = np.array([0.25, 0.10, 0.20, 0.15, 0.10, 0.10, 0.10])
_START_DATE = np.datetime64("2008-01-02")
_LIMIT_DOWN, _LIMIT_UP = np.log(0.7), np.log(1.3)
_EVENT_RATE = 1.0 / 2500.0  # planted splits per ticker per trading day
_EVENT_MIN_SPACING = 40  # trading days between two events of one ticker (keeps them separable)
_EVENT_MARGIN = 12  # events keep this many trading days from listing, delisting and halts


def _runs_mask(shape: tuple[int, int], starts: np.ndarray,
               lengths: np.ndarray) -> np.ndarray:
    """Boolean [T, D] mask that is True on runs starting at flat index ``starts`` with ``lengths``."""
    t, d = shape
    diff = np.zeros((t, d + 1), dtype=np.int32)
    rows, cols = np.divmod(starts, d)
    np.add.at(diff, (rows, cols), 1)
    np.add.at(diff, (rows, np.minimum(cols + lengths, d)), -1)
    return np.cumsum(diff, axis=1)[:, :d] > 0


def _window_any(mask: np.ndarray, before: int, after: int) -> np.ndarray:
    """[T, D]: True where ``mask`` is True anywhere in columns [d - before, d + after]."""
    t, d = mask.shape
    c = np.zeros((t, d + 1), dtype=np.int32)
    np.cumsum(mask, axis=1, out=c[:, 1:])
    lo = np.clip(np.arange(d) - before, 0, d)
    hi = np.clip(np.arange(d) + after + 1, 0, d)
    return (c[:, hi] - c[:, lo]) > 0


def generate(tickers: int, days: int, seed: int, signal: float = 0.0,
             pattern: float = 0.0) -> tuple[Panel, pd.DataFrame]:
    """Generate a market; returns (panel sorted by (ticker, date), events[ticker, date, ratio]).

    Prices are UNADJUSTED (splits show as jumps); ``events`` lists each split with the date of the
    first trading day at the new scale and its ratio (2 = 2-for-1: the price halves). Deterministic
    for a given (tickers, days, seed, signal, pattern).
    """
    return _generate(tickers, days, seed, signal, pattern)[:2]


def planted_drift(tickers: int, days: int, seed: int, signal: float = 0.0, pattern: float = 0.0,
                  horizon: int = 5) -> pd.DataFrame:
    """The planted pattern's log-return drift over the ``horizon`` days after each row, known at that row
    (``pattern`` only; ``horizon`` <= 6): the prediction of an oracle that knows the generator.

    Returns (ticker, date, drift) for the rows of ``generate(...)``'s panel."""
    if not 1 <= horizon <= 6:
        raise ValueError(f"horizon must be 1-6 (the pattern's lag), got {horizon}")
    panel, _, drift_by_day, idx = _generate(tickers, days, seed, signal, pattern)
    ahead = np.zeros_like(drift_by_day)  # [T, D]: sum of the drift over days d+1 .. d+horizon
    for h in range(1, horizon + 1):
        ahead[:, :-h] += drift_by_day[:, h:]
    return pd.DataFrame({"ticker": np.array(panel.tickers, dtype=object)[panel.ticker], "date": panel.date,
                         "drift": ahead.ravel()[idx]})


def _generate(tickers: int, days: int, seed: int, signal: float,
              pattern: float) -> tuple[Panel, pd.DataFrame, np.ndarray, np.ndarray]:
    if tickers < 1 or days < 2:
        raise ValueError(f"need tickers >= 1 and days >= 2, got tickers={tickers}, days={days}")
    rng = np.random.default_rng(seed)
    T, D = int(tickers), int(days)
    cols = np.arange(D)
    dates = np.busday_offset(_START_DATE, cols, roll="forward").astype("datetime64[D]")

    # --- listings and delistings
    start = np.where(rng.random(T) < 0.7, 0, rng.integers(0, max(1, int(0.6 * D)), T))
    avail = D - start
    minlen = max(2, min(250, D // 8))
    delist = rng.random(T) < 0.15
    length = np.where(delist, minlen + (rng.random(T) * np.maximum(avail - minlen, 0)).astype(np.int64), avail)
    short = rng.random(T) < 0.02  # a few tickers too short to form a window: validate must skip them
    length = np.where(short, rng.integers(3, 40, T), length)
    length = np.clip(length, 1, avail)
    end = start + length
    listed = (cols >= start[:, None]) & (cols < end[:, None])

    # --- halts: short random ones, and one long halt for ~3% of tickers; never on the first listed day
    n_short = rng.binomial(T * D, 0.0015)
    halted = _runs_mask((T, D), rng.integers(0, T * D, n_short), rng.integers(1, 4, n_short))
    long_t = np.flatnonzero(rng.random(T) < 0.03)
    long_start = start[long_t] + (rng.random(long_t.size) * length[long_t]).astype(np.int64)
    halted |= _runs_mask((T, D), long_t * D + np.minimum(long_start, D - 1),
                         rng.integers(20, 150, long_t.size))
    halted &= listed
    halted[np.arange(T), np.minimum(start, D - 1)] = False

    # --- returns: market factor + GARCH(1,1) idiosyncratic student-t shocks, +-30% limits
    vol = rng.uniform(0.012, 0.03, T)  # unconditional daily vol of the idiosyncratic part
    beta = rng.uniform(0.4, 1.4, T)
    alpha_g, beta_g = 0.08, 0.90
    omega = vol**2 * (1 - alpha_g - beta_g)
    t_scale = np.sqrt(4.0 / 2.0)  # student-t(4) has variance 2
    market = 0.008 * rng.standard_t(4, D) / t_scale
    coef = -0.1 * float(signal)
    trading = listed & ~halted
    # the day loop reads and writes whole contiguous rows of day-major [D, T] arrays (a column of
    # a [T, D] array would touch one cache line per ticker per day); same numbers, transposed once
    trading_by_day = np.ascontiguousarray(trading.T)
    ret_by_day = np.empty((D, T))
    h = vol**2
    buf = np.zeros((5, T))
    r5 = np.zeros(T)
    s1, s2 = np.zeros(T), np.zeros(T)  # the pattern's two lagged 20-day returns: R[d-25..d-6], R[d-45..d-26]
    drift_by_day = np.zeros((D, T))
    for d in range(D):
        shock = np.sqrt(h) * (rng.standard_t(4, T) / t_scale)
        r = coef * r5 + beta * market[d] + shock
        if pattern:
            drift_by_day[d] = np.where(trading_by_day[d], pattern * vol * np.sign(s1) * np.sign(s2), 0.0)
            r = r + drift_by_day[d]
        on = trading_by_day[d]
        r = np.where(on, np.clip(r, _LIMIT_DOWN, _LIMIT_UP), 0.0)
        h = np.where(on, omega + alpha_g * shock**2 + beta_g * h, h)
        r5 += r - buf[d % 5]
        buf[d % 5] = r
        ret_by_day[d] = r
        if pattern:  # slide both windows one day on: tomorrow's s1 ends at d-4, s2 at d-24
            s1 += (ret_by_day[d - 5] if d >= 5 else 0.0) - (ret_by_day[d - 25] if d >= 25 else 0.0)
            s2 += (ret_by_day[d - 25] if d >= 25 else 0.0) - (ret_by_day[d - 45] if d >= 45 else 0.0)
    del trading_by_day
    ret = np.ascontiguousarray(ret_by_day.T)
    del ret_by_day
    logp0 = rng.uniform(np.log(1_000), np.log(500_000), T)  # KRW-like levels at listing
    log_close = logp0[:, None] + np.cumsum(ret, axis=1)

    # --- splits: random dates away from listing edges, halts and each other
    cand = (rng.random((T, D), dtype=np.float32) < _EVENT_RATE) & listed
    cand &= (cols >= start[:, None] + _EVENT_MARGIN) & (cols < end[:, None] - _EVENT_MARGIN)
    cand &= ~_window_any(halted, _EVENT_MARGIN, _EVENT_MARGIN)
    flat = np.flatnonzero(cand)
    keep = np.ones(flat.size, dtype=bool)
    keep[1:] = ~((flat[1:] // D == flat[:-1] // D) & (flat[1:] - flat[:-1] < _EVENT_MIN_SPACING))
    flat = flat[keep]
    ratios = rng.choice(SPLIT_RATIOS, size=flat.size, p=_SPLIT_PROBS)
    ev_log = np.zeros((T, D))
    ev_log.ravel()[flat] = np.log(ratios)
    lcum = np.cumsum(ev_log, axis=1)  # log of the shares multiplier in force on each day
    del ev_log

    # --- OHLC: open gaps carry part of the return, high/low extend the body, all inside the limits
    # (float32 noise: half the memory traffic of float64, and noise needs no more precision)
    prev = np.concatenate([log_close[:, :1], log_close[:, :-1]], axis=1)
    gap = np.where(trading, 0.3 * ret + rng.standard_normal((T, D), dtype=np.float32) * (0.25 * vol[:, None]), 0.0)
    log_open = prev + np.clip(gap, _LIMIT_DOWN, _LIMIT_UP)
    body_hi = np.maximum(log_open, log_close)
    body_lo = np.minimum(log_open, log_close)
    wick = np.where(trading, 0.5 * vol[:, None], 0.0)
    log_high = np.minimum(body_hi + np.abs(rng.standard_normal((T, D), dtype=np.float32)) * wick, prev + _LIMIT_UP)
    log_low = np.maximum(body_lo - np.abs(rng.standard_normal((T, D), dtype=np.float32)) * wick, prev + _LIMIT_DOWN)
    del body_hi, body_lo, wick, gap, prev

    logv0 = rng.uniform(np.log(1e4), np.log(1e6), T)  # adjusted shares per day
    # busier on big moves, but bounded: news days trade a few times the usual volume, not thousands
    log_vol = logv0[:, None] + 0.35 * rng.standard_normal((T, D), dtype=np.float32) + 0.3 * np.minimum(np.abs(ret) / vol[:, None], 4.0)

    # --- flatten the listed cells, ticker-major so the panel is sorted by (ticker, date)
    idx = np.flatnonzero(listed.ravel())
    lc = lcum.ravel()[idx]
    price = lambda m: np.maximum(np.round(np.exp(m.ravel()[idx] - lc), 2), 0.01)  # noqa: E731
    volume = np.where(trading.ravel()[idx], np.maximum(np.round(np.exp(log_vol.ravel()[idx] + lc)), 1.0), 0.0)
    names = [f"{i:06d}" for i in range(T)]  # KRX-like codes: leading zeros must survive CSV round trips
    panel = Panel(tickers=names, ticker=(idx // D).astype(np.int32), date=dates[idx % D],
                  open=price(log_open), high=price(log_high), low=price(log_low), close=price(log_close),
                  volume=volume)
    ev_t, ev_d = np.divmod(flat, D)
    events = pd.DataFrame({"ticker": np.array(names, dtype=object)[ev_t],
                           "date": pd.to_datetime(dates[ev_d]), "ratio": ratios})
    return panel, events, np.ascontiguousarray(drift_by_day.T), idx


def write_market(directory: str | Path, tickers: int, days: int, seed: int, fmt: str = "csv",
                 signal: float = 0.0, events_path: str | Path | None = None) -> pd.DataFrame:
    """Dump a synthetic market as ``<TICKER>.csv``/``.parquet`` files (Yahoo-style columns); returns events.

    The events are not written into ``directory`` (every file there is read as a ticker); pass
    ``events_path`` to save them as a CSV of (ticker, date, ratio).
    """
    if fmt not in ("csv", "parquet"):
        raise ValueError(f"fmt must be 'csv' or 'parquet', got {fmt!r}")
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    panel, events = generate(tickers, days, seed, signal)
    starts = panel.starts
    for k, name in enumerate(panel.tickers):
        a, b = int(starts[k]), int(starts[k + 1])
        df = pd.DataFrame({"Date": pd.to_datetime(panel.date[a:b]).strftime("%Y-%m-%d"),
                           "Open": panel.open[a:b], "High": panel.high[a:b], "Low": panel.low[a:b],
                           "Close": panel.close[a:b], "Volume": panel.volume[a:b].astype(np.int64)})
        if fmt == "csv":
            df.to_csv(directory / f"{name}.csv", index=False)
        else:
            df.to_parquet(directory / f"{name}.parquet", index=False)
    if events_path is not None:
        out = events.assign(date=events["date"].dt.strftime("%Y-%m-%d"))
        out.to_csv(events_path, index=False)
    return events
