"""Technical features of every row, relative to the previous day's close, vectorized over the panel.

Rows are processed in blocks of whole tickers laid out as a [ticker, day] grid (a ticker's days
contiguous, as in the flat panel) and seen by the feature code as its time-major view [day, ticker],
so every rolling statistic is a few vectorized numpy operations over the block (cumulative sums for
means, doubling for max/min) and the recursive ones (EMAs, Wilder smoothing) are chunked matrix
products, never a loop over tickers or rows. Each ticker starts at day 0 of the block, so nothing leaks across tickers; the
first ``WARMUP`` rows of each ticker are not fully defined and are kept in the matrix but never
start a window (see ``windows.py``).
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from .panel import Panel

__all__ = ["FEATURE_NAMES", "WARMUP", "compute_features"]

FEATURE_NAMES: list[str] = [
    "log_open", "log_high", "log_low", "log_close", "log_range", "log_volume_change", "volume_ratio_20",
    "ret_5", "ret_20",
    "ma_ratio_5", "ma_ratio_20", "ma_ratio_60", "ma_ratio_120",
    "rsi_14", "macd", "macd_signal", "macd_hist", "bb_pctb_20", "atr_14",
    "ichimoku_conversion", "ichimoku_base", "ichimoku_span_a", "ichimoku_span_b",
    "volatility_20",
]

# the longest look-back of any feature (the 120-day moving average); rows before it are warm-up
WARMUP = 120

# cells per block of whole tickers: keeps a block's ~60 temporaries (4 MB each) near the caches
_BLOCK_ROWS = 500_000


def _shift(x: np.ndarray, k: int) -> np.ndarray:
    """x[t-k] along axis 0 (NaN for t < k)."""
    out = np.empty_like(x)
    out[:k] = np.nan
    out[k:] = x[:-k]
    return out


def _rolling_mean(x: np.ndarray, w: int) -> np.ndarray:
    """Trailing mean over w days along axis 0 via a cumulative sum (NaN for t < w-1).

    x may hold NaN only in the padding after a ticker's end, where a NaN sum harms nothing.
    """
    c = np.cumsum(x, axis=0, dtype=np.float64)
    out = np.empty_like(c)
    out[w - 1] = c[w - 1]
    out[w:] = c[w:] - c[:-w]
    out /= w
    out[: w - 1] = np.nan
    return out


class _Extremes:
    """Trailing max (or min) over several window lengths, sharing the doubling steps.

    Level p holds the extreme of x[t-p+1 .. t] (p = 1, 2, 4, ...); a window w is two overlapping
    power-of-two windows, so each w costs one more vectorized op instead of w.
    """

    def __init__(self, x: np.ndarray, fn: Callable, max_w: int) -> None:
        self.fn = fn
        self.levels = {1: x}
        span = 1
        while span * 2 <= max_w:
            m = self.levels[span]
            nxt = m.copy()
            nxt[span:] = fn(m[span:], m[:-span])
            span *= 2
            self.levels[span] = nxt

    def __call__(self, w: int) -> np.ndarray:
        span = 1 << (w.bit_length() - 1)  # largest power of two <= w
        m = self.levels[span]
        out = m.copy()
        if span < w:
            out[w - span:] = self.fn(m[w - span:], m[: len(m) - (w - span)])
        out[: w - 1] = np.nan
        return out


_EMA_CHUNK = 32


def _ema(x: np.ndarray, alpha: float) -> np.ndarray:
    """Exponential moving average along axis 0 of x [T, K] (alpha per step), seeded with x[0].

    The recursion y[t] = a x[t] + (1-a) y[t-1] is unrolled over chunks of _EMA_CHUNK days: inside a
    chunk it is one small matrix product (lower-triangular weights a (1-a)^(i-j)) plus the decayed
    carry from the previous chunk, so the Python loop runs T/32 times per block, not T.
    NaN (the padding after a ticker's end) is treated as 0: it only ever feeds later padding.
    Works on the [K, T] memory layout of the block (a ticker's days contiguous) and returns the
    same layout, so no transposed copies are made.
    """
    xt = np.nan_to_num(x.T)  # [K, T]
    T = xt.shape[1]
    C = min(_EMA_CHUNK, T)
    i = np.arange(C)
    lag = i[None, :] - i[:, None]  # [j, i] = i - j
    weights = np.where(lag >= 0, alpha * (1.0 - alpha) ** np.maximum(lag, 0), 0.0)  # [C, C]: y_i += w[j, i] x_j
    decay = (1.0 - alpha) ** (i + 1)  # [C]
    out = np.empty_like(xt)
    carry = xt[:, 0:1]
    for s in range(0, T, C):
        n = min(C, T - s)
        y = xt[:, s:s + n] @ weights[:n, :n]  # [K, n] @ [n, n] -> [K, n]
        y += carry * decay[:n]
        out[:, s:s + n] = y
        carry = y[:, -1:]
    return out.T


class _Means:
    """Trailing means of one series over several window lengths from a single cumulative sum."""

    def __init__(self, x: np.ndarray) -> None:
        self.c = np.cumsum(x, axis=0, dtype=np.float64)

    def __call__(self, w: int) -> np.ndarray:
        c = self.c
        out = np.empty_like(c)
        out[w - 1] = c[w - 1]
        out[w:] = c[w:] - c[:-w]
        out /= w
        out[: w - 1] = np.nan
        return out


def _block_features(o: np.ndarray, h: np.ndarray, l: np.ndarray, c: np.ndarray, v: np.ndarray) -> list[np.ndarray]:
    """Features of one time-major block [T, B]; returns arrays in FEATURE_NAMES order."""
    with np.errstate(divide="ignore", invalid="ignore"):
        logc = np.log(c)
        logh, logl = np.log(h), np.log(l)
        prev = _shift(logc, 1)
        r = logc - prev  # daily log return
        logv = np.log1p(v)  # log1p: halted days have zero volume
        feats: dict[str, np.ndarray] = {
            "log_open": np.log(o) - prev,
            "log_high": logh - prev,
            "log_low": logl - prev,
            "log_close": r,
            "log_range": logh - logl,
            "log_volume_change": logv - _shift(logv, 1),
            "volume_ratio_20": logv - _rolling_mean(np.nan_to_num(logv), 20),
            "ret_5": logc - _shift(logc, 5),
            "ret_20": logc - _shift(logc, 20),
        }
        close_mean = _Means(c)
        mean20 = close_mean(20)
        for w in (5, 20, 60, 120):
            feats[f"ma_ratio_{w}"] = np.log(mean20 if w == 20 else close_mean(w)) - logc

        # recursive smoothers: RSI gains/losses and ATR use Wilder's alpha = 1/14, MACD EMA12/EMA26/EMA9
        cp = _shift(c, 1)
        tr = np.fmax(h - l, np.fmax(np.abs(h - cp), np.abs(l - cp)))
        tr[0] = (h - l)[0]
        r0 = np.nan_to_num(r)
        gain, loss = np.maximum(r0, 0.0), np.maximum(-r0, 0.0)
        avg_gain, avg_loss, atr = _ema(gain, 1 / 14), _ema(loss, 1 / 14), _ema(tr, 1 / 14)
        feats["rsi_14"] = avg_gain / (avg_gain + avg_loss) - 0.5
        macd = (_ema(c, 2 / 13) - _ema(c, 2 / 27)) / c
        signal = _ema(macd, 2 / 10)
        feats["macd"] = macd
        feats["macd_signal"] = signal
        feats["macd_hist"] = macd - signal

        var20 = np.maximum(_rolling_mean(c * c, 20) - mean20 * mean20, 0.0)
        sd20 = np.sqrt(var20)
        feats["bb_pctb_20"] = (c - (mean20 - 2 * sd20)) / (4 * sd20)
        feats["atr_14"] = atr / c

        hmax, lmin = _Extremes(h, np.fmax, 52), _Extremes(l, np.fmin, 52)

        def mid(w: int) -> np.ndarray:
            return (hmax(w) + lmin(w)) / 2

        conv, base = mid(9), mid(26)
        feats["ichimoku_conversion"] = np.log(conv) - logc
        feats["ichimoku_base"] = np.log(base) - logc
        # leading spans are plotted 26 days ahead: the value shown at t was computed at t-26
        feats["ichimoku_span_a"] = np.log(_shift((conv + base) / 2, 26)) - logc
        feats["ichimoku_span_b"] = np.log(_shift(mid(52), 26)) - logc

        r_mean = _Means(r0)(20)
        feats["volatility_20"] = np.sqrt(np.maximum(_rolling_mean(r0 * r0, 20) - r_mean * r_mean, 0.0))
    return [feats[n] for n in FEATURE_NAMES]


def compute_features(panel: Panel, progress: Callable[[int, int], None] | None = None,
                     out: np.ndarray | None = None) -> np.ndarray:
    """Raw (unscaled) features float32 [n_rows, len(FEATURE_NAMES)] for a panel sorted by (ticker, date).

    Undefined values (warm-up rows, zero-width Bollinger bands) are NaN; ``scaling.apply`` maps
    them to 0. ``progress(done_tickers, n_tickers)`` is called after each block of whole tickers.
    """
    n, nf = len(panel), len(FEATURE_NAMES)
    if out is None:
        out = np.empty((n, nf), dtype=np.float32)
    starts = panel.starts
    nt = len(starts) - 1
    lengths = np.diff(starts)
    k = 0
    while k < nt:
        # a block of whole tickers whose padded [B, max_len] layout stays within _BLOCK_ROWS cells
        j = k + 1
        width = int(lengths[k])
        while j < nt and max(width, int(lengths[j])) * (j - k + 1) <= _BLOCK_ROWS:
            width = max(width, int(lengths[j]))
            j += 1
        lo, hi = int(starts[k]), int(starts[j])
        if hi > lo:
            _features_of_block(panel, starts, lo, hi, k, j, width, out)
        k = j
        if progress is not None:
            progress(k, nt)
    return out


def _features_of_block(panel: Panel, starts: np.ndarray, lo: int, hi: int, k: int, j: int, width: int, out: np.ndarray) -> None:
    """Features of tickers k..j-1 (rows lo:hi) written into out[lo:hi]."""
    nb = j - k
    uniform = hi - lo == nb * width  # every ticker has `width` rows: the flat block is the grid
    if uniform:
        lin = None
    else:
        tick = panel.ticker[lo:hi].astype(np.int64) - k
        lin = tick * width + (np.arange(lo, hi) - starts[panel.ticker[lo:hi]])

    def grid(col: np.ndarray) -> np.ndarray:
        # ticker-major [B, W] in memory (a ticker's rows are contiguous, as in the flat panel),
        # handed to the feature code as its time-major view [W, B]
        if lin is None:
            g = np.asarray(col[lo:hi], dtype=np.float64).reshape(nb, width)
        else:
            g = np.full(nb * width, np.nan)  # padding after a ticker's end never feeds back
            g[lin] = col[lo:hi]
            g = g.reshape(nb, width)
        return g.T

    feats = _block_features(grid(panel.open), grid(panel.high), grid(panel.low),
                            grid(panel.close), grid(panel.volume))
    cols = []
    for arr in feats:
        flat = np.ascontiguousarray(arr.T).reshape(-1)  # [W, B] -> [B, W] -> [B*W]
        cols.append(flat if lin is None else flat[lin])
    del feats
    # write row chunks that fit in cache: column-by-column writes into a [rows, F] array are strided
    step = 16384
    for c0 in range(0, hi - lo, step):
        dst = out[lo + c0: min(lo + c0 + step, hi)]
        for f, col in enumerate(cols):
            dst[:, f] = col[c0:c0 + step]
