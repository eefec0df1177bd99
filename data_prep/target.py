"""The training target: the forward log return over ``look_ahead`` days turned into a rise probability.

Three transforms map the return to [0, 1]:

- ``cs_rank``: percentile rank among the tickers of the same date, ``(rank - 0.5) / n``. Needs no
  fitting (each date only sees its own cross-section), uniform by construction.
- ``ecdf``: the empirical CDF of the volatility-normalized return ``r / sigma20`` fitted on TRAINING
  windows only and applied to every split by interpolation; for a few tickers, where a cross-section
  is too small to rank. Ties (a price that did not move over ``look_ahead`` days, common at a coarse
  tick size, gives r = 0 on many windows) are a point mass of the CDF; each tied value gets a uniform
  draw between the CDF just below and at the tie (the randomized probability integral transform),
  from a fixed hash of its (date, ticker), so the target is uniform and the same on every build. A
  mid-rank would put the whole tie on one value and leave a KS distance of half the tie's share.
- ``resample``: the original author's method: a monotone transform built from the training-set
  histogram of returns (``resample_bins`` bins) that flattens it, with values outside
  ``[resample_lower, resample_upper]`` CLIPPED rather than dropped.

Validation and test rows are never used for fitting and never resampled. The fitted parameters
go to meta["target_transform"].
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from .config import PrepConfig
from .features import _threads as prep_threads  # one rule for prep's thread count (STOCKTUNE_PREP_THREADS)
from .panel import Panel

__all__ = ["forward_returns", "daily_volatility", "choose_method", "fit_target", "apply_target"]

_ECDF_KNOTS = 4001


def forward_returns(panel: Panel, look_ahead: int) -> np.ndarray:
    """log(close[t+h] / close[t]) within one ticker, float64 [n]; NaN where t+h is past the ticker's end."""
    n = len(panel)
    logc = np.log(panel.close)
    out = np.full(n, np.nan)
    if n > look_ahead:
        same = panel.ticker[look_ahead:] == panel.ticker[:-look_ahead]
        out[:-look_ahead] = np.where(same, logc[look_ahead:] - logc[:-look_ahead], np.nan)
    return out


def daily_volatility(panel: Panel, window: int = 20) -> np.ndarray:
    """Trailing std of daily log returns over ``window`` days within one ticker (NaN in the first days)."""
    n = len(panel)
    logc = np.log(panel.close)
    r = np.zeros(n)
    r[1:] = np.diff(logc)
    first = panel.starts[:-1]
    r[first[first < n]] = 0.0
    c1 = np.concatenate([[0.0], np.cumsum(r)])
    c2 = np.concatenate([[0.0], np.cumsum(r * r)])
    out = np.full(n, np.nan)
    if n >= window:
        s1 = c1[window:] - c1[:-window]
        s2 = c2[window:] - c2[:-window]
        mean = s1 / window
        var = np.maximum(s2 / window - mean * mean, 0.0)
        out[window - 1:] = np.sqrt(var)
    pos = np.arange(n) - panel.starts[panel.ticker]
    out[pos < window] = np.nan  # the window must hold `window` returns of this ticker
    return out


def choose_method(panel: Panel, cfg: PrepConfig) -> str:
    """``auto`` -> cs_rank when the median date has at least cs_rank_min_tickers tickers, else ecdf."""
    if cfg.target != "auto":
        return cfg.target
    d = panel.date.astype("datetime64[D]", copy=False).view(np.int64)  # a view: no copies of 8M dates
    counts = np.bincount(d - d.min()) if d.size else np.zeros(0, np.int64)
    counts = counts[counts > 0]
    return "cs_rank" if counts.size and np.median(counts) >= cfg.cs_rank_min_tickers else "ecdf"


def _cs_rank(date: np.ndarray, ret: np.ndarray, ticker: np.ndarray | None = None) -> np.ndarray:
    """(rank - 0.5) / n of each finite return among the finite returns of its date.

    With ticker codes (unique (ticker, date) pairs) the returns go into a [date, ticker] grid and
    one argsort per date row ranks them: much faster than a 10M-element lexsort. Few full-size
    temporaries: at 10M windows each one costs tens of ms in page faults alone.
    """
    out = np.full(ret.shape, np.nan)
    finite = np.isfinite(ret)
    if finite.all():
        ok: np.ndarray | slice = slice(None)  # the common case: no index arrays at all
    else:
        ok = np.flatnonzero(finite)
        if ok.size == 0:
            return out
    del finite
    date = np.asarray(date)
    d = date[ok]
    d = d.view(np.int64) if d.dtype == np.dtype("datetime64[D]") else d.astype("datetime64[D]").astype(np.int64)
    lo = int(d.min())
    present = np.bincount(d - lo) > 0
    day = (np.cumsum(present) - 1)[d - lo]
    del d
    if ticker is not None:
        t = np.asarray(ticker)[ok]
        nd, nt = int(day.max()) + 1, int(t.max()) + 1
        n = np.bincount(day, minlength=nd)
        cell = day  # flat index into the [date, ticker] grid, built in place
        cell *= nt
        cell += t
        del day, t
        grid = np.full(nd * nt, np.inf)  # missing sorts last
        grid[cell] = ret[ok]
        _rank_rows(grid.reshape(nd, nt), np.maximum(n, 1))
        if isinstance(ok, slice):
            np.take(grid, cell, out=out)
        else:
            out[ok] = grid[cell]
        return out
    r = ret[ok]
    order = np.lexsort((r, day))  # by date, then return
    ds = day[order]
    new = np.concatenate([[True], ds[1:] != ds[:-1]])
    group_start = np.maximum.accumulate(np.where(new, np.arange(ds.size), 0))
    n = np.bincount(ds)
    idx = np.arange(ret.size)[ok]
    out[idx[order]] = (np.arange(ds.size) - group_start + 0.5) / n[ds]
    return out


_RANK_ROWS = 256  # dates per block: a block's grid and order (2 x 256 x tickers x 8 bytes) stay in cache


def _rank_rows(share: np.ndarray, n: np.ndarray) -> None:
    """Each row of the [date, ticker] grid (missing = +inf) replaced by its cells' (rank + 0.5) / n of the row.

    Rows are independent: blocks of rows run on the prep threads (numpy's argsort and the scatter
    release the GIL), and each row is sorted exactly as one whole-grid argsort would sort it.
    """
    ranks = (np.arange(share.shape[1]) + 0.5)[None, :]

    def block(lo: int) -> None:
        rows = share[lo:lo + _RANK_ROWS]
        order = np.argsort(rows, axis=1)
        np.put_along_axis(rows, order, ranks, axis=1)  # each cell's share of its date, at its sorted position
        rows /= n[lo:lo + _RANK_ROWS, None]

    starts = range(0, share.shape[0], _RANK_ROWS)
    workers = min(prep_threads(), len(starts))
    if workers <= 1:
        for lo in starts:
            block(lo)
        return
    with ThreadPoolExecutor(workers, thread_name_prefix="rank") as pool:
        list(pool.map(block, starts))


def _tie_draw(date: np.ndarray, ticker: np.ndarray | None, rows: np.ndarray) -> np.ndarray:
    """Uniform [0, 1) per row, a fixed hash (splitmix64) of its (date, ticker): the same on every build."""
    d = np.asarray(date)[rows].astype("datetime64[D]").astype(np.int64).astype(np.uint64)
    t = (np.asarray(ticker)[rows].astype(np.uint64) if ticker is not None else rows.astype(np.uint64))
    with np.errstate(over="ignore"):
        x = d * np.uint64(0x9E3779B97F4A7C15) + t * np.uint64(0xBF58476D1CE4E5B9) + np.uint64(0x94D049BB133111EB)
        x ^= x >> np.uint64(30)
        x *= np.uint64(0xBF58476D1CE4E5B9)
        x ^= x >> np.uint64(27)
        x *= np.uint64(0x94D049BB133111EB)
        x ^= x >> np.uint64(31)
    return (x >> np.uint64(11)).astype(np.float64) / float(1 << 53)


def fit_target(method: str, ret: np.ndarray, sigma: np.ndarray, train_rows: np.ndarray, cfg: PrepConfig) -> dict[str, Any]:
    """Fit the transform on the TRAINING windows' rows only; returns JSON-able parameters."""
    params: dict[str, Any] = {"method": method}
    if method == "cs_rank":
        return params
    if method == "ecdf":
        z = ret[train_rows] / np.maximum(sigma[train_rows], 1e-8)
        z = z[np.isfinite(z)]
        levels = np.linspace(0.0, 1.0, _ECDF_KNOTS)
        knots = np.quantile(z, levels) if z.size else np.zeros_like(levels)
        params.update(knots=knots.tolist(), levels=levels.tolist(), normalize="sigma20")
        return params
    if method == "resample":
        r = ret[train_rows]
        r = r[np.isfinite(r)]
        lo, hi = (np.quantile(r, [0.001, 0.999]) if r.size else (0.0, 0.0))
        if hi <= lo:
            hi = lo + 1e-6
        edges = np.linspace(lo, hi, cfg.resample_bins + 1)
        counts, _ = np.histogram(np.clip(r, lo, hi), bins=edges)
        # the cumulative histogram is the monotone map that flattens the training histogram
        cdf = np.concatenate([[0.0], np.cumsum(counts)]) / max(counts.sum(), 1)
        params.update(edges=edges.tolist(), cdf=cdf.tolist(), lower=cfg.resample_lower, upper=cfg.resample_upper)
        return params
    raise ValueError(f"unknown target method {method!r}")


def apply_target(params: dict[str, Any], ret: np.ndarray, sigma: np.ndarray, date: np.ndarray,
                 ticker: np.ndarray | None = None) -> np.ndarray:
    """Rise probability in [0, 1] (NaN where the return is undefined) for every row, float64 [n].

    ``ticker`` (optional, for cs_rank) must make (ticker, date) unique; it speeds the ranking up.
    """
    method = params["method"]
    if method == "cs_rank":
        return _cs_rank(date, ret, ticker)
    if method == "ecdf":
        z = ret / np.maximum(sigma, 1e-8)
        knots, levels = np.asarray(params["knots"]), np.asarray(params["levels"])
        out = np.interp(z, knots, levels)
        lo = np.searchsorted(knots, z, side="left")
        hi = np.searchsorted(knots, z, side="right")
        tie = np.flatnonzero(hi - lo >= 2)  # z equals several knots: a tie in the training returns
        if tie.size:
            u = _tie_draw(date, ticker, tie)
            out[tie] = levels[lo[tie]] + u * (levels[hi[tie] - 1] - levels[lo[tie]])
        out[~np.isfinite(z)] = np.nan
        return out
    if method == "resample":
        out = np.interp(ret, np.asarray(params["edges"]), np.asarray(params["cdf"]))
        out = np.clip(out, params["lower"], params["upper"])  # clipped, never dropped
        out[~np.isfinite(ret)] = np.nan
        return out
    raise ValueError(f"unknown target method {method!r}")
