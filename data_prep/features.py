"""Technical features of every row, relative to the previous day's close, vectorized over the panel.

Rows are processed in blocks of whole tickers laid out as a [ticker, day] grid (a ticker's days
contiguous, as in the flat panel; each ticker starts at day 0 and is padded after its end with its
last bar), small enough that a block's working set stays in the CPU caches. Every rolling
statistic is a few vectorized numpy operations along the day axis of the block: cumulative sums
for means, doubling for max/min, and the recursive ones (EMAs, Wilder smoothing) a scaled
cumulative sum inside chunks of ``_EMA_CHUNK`` days plus a carry between chunks. Nothing loops over
tickers or rows, and every value depends only on its own ticker's earlier rows, so a ticker gives
bit-identical features alone or in any block. Each block's features are written straight into the
output (which may be a memory-mapped .npy file) through a small float32 buffer. The first
``WARMUP`` rows of each ticker are not fully defined and are kept in the matrix but never start a
window (see ``windows.py``).
"""
from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from common.cpus import available_cores
from common.env import get as get_env

from .panel import Panel
from .windows import row_starts

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

# cells (tickers x padded days) per block: ~15 tickers of 4,200 days, so the ~15 live float64
# temporaries of a block (0.5 MB each) stay in L2/L3 instead of streaming through memory
_BLOCK_ROWS = 65_536

# days per EMA chunk; grids are padded to a multiple of it. Inside a chunk the recursion is a
# cumulative sum scaled by (1-alpha)^-j (<= 0.8^-127 ~ 2e12 here: exact enough in float64)
_EMA_CHUNK = 128


def _lag(x: np.ndarray, k: int) -> np.ndarray:
    """x[:, t-k] (NaN for t < k) along the day axis of a [B, W] grid."""
    out = np.empty_like(x)
    out[:, :k] = np.nan
    out[:, k:] = x[:, :-k]
    return out


def _lag_diff(x: np.ndarray, k: int, out: np.ndarray | None = None) -> np.ndarray:
    """x[:, t] - x[:, t-k] (NaN for t < k) without materializing the lagged copy."""
    if out is None:
        out = np.empty_like(x)
    out[:, :k] = np.nan
    np.subtract(x[:, k:], x[:, :-k], out=out[:, k:])
    return out


class _Means:
    """Trailing means of one series over several window lengths from a single cumulative sum."""

    def __init__(self, x: np.ndarray) -> None:
        self.c = np.zeros((x.shape[0], x.shape[1] + 1))
        np.cumsum(x, axis=1, out=self.c[:, 1:])

    def __call__(self, w: int) -> np.ndarray:
        c = self.c
        out = np.empty((c.shape[0], c.shape[1] - 1))
        out[:, : w - 1] = np.nan
        np.subtract(c[:, w:], c[:, :-w], out=out[:, w - 1:])
        out[:, w - 1:] *= 1.0 / w
        return out


class _Extremes:
    """Trailing max (or min) over several window lengths along the day axis, sharing the doubling steps.

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
            fn(m[:, span:], m[:, :-span], out=nxt[:, span:])
            span *= 2
            self.levels[span] = nxt

    def __call__(self, w: int) -> np.ndarray:
        span = 1 << (w.bit_length() - 1)  # largest power of two <= w
        m = self.levels[span]
        if span == w:
            out = m.copy()
        else:
            out = np.empty_like(m)
            self.fn(m[:, w - span:], m[:, : m.shape[1] - (w - span)], out=out[:, w - span:])
        out[:, : w - 1] = np.nan
        return out


def _ema(x: np.ndarray, alpha: float) -> np.ndarray:
    """Exponential moving average along the day axis of x [B, W] (W a multiple of _EMA_CHUNK), seeded with x[:, 0].

    y[t] = a x[t] + (1-a) y[t-1] with y[-1] = x[0]. Inside each chunk of C days the zero-start
    recursion is a (1-a)^j-scaled cumulative sum; the value carried into chunk m is the previous
    chunk's end, a recursion over W/C chunks (a short loop over [B] vectors); one broadcast pass adds
    the decayed carries. x must be finite (the grid pads with the last bar, never NaN).
    """
    B, W = x.shape
    C = _EMA_CHUNK
    M = W // C
    d = 1.0 - alpha
    j = np.arange(C)
    z = np.multiply(x.reshape(B, M, C), d ** -j)
    np.cumsum(z, axis=2, out=z)
    z *= alpha * d ** j  # z[b, m, j] = sum_{i<=j} a d^(j-i) x[b, m, i]
    ends = z[:, :, -1]  # [B, M] (a view: read before z is updated below)
    carry = np.empty((B, M))
    dc = d ** C
    prev = x[:, 0].copy()
    for m in range(M):
        carry[:, m] = prev
        prev = ends[:, m] + dc * prev
    z += carry[:, :, None] * d ** (j + 1)
    return z.reshape(B, W)


def _block_features(o: np.ndarray, h: np.ndarray, l: np.ndarray, c: np.ndarray, v: np.ndarray,
                    put: Callable[[str, np.ndarray], None]) -> None:
    """Features of one block of [B, W] grids, each handed to ``put(name, values)`` as soon as it is done."""
    with np.errstate(divide="ignore", invalid="ignore"):
        logc = np.log(c)
        prev = _lag(logc, 1)
        t = np.log(o)
        put("log_open", np.subtract(t, prev, out=t))
        logh, logl = np.log(h), np.log(l)
        put("log_high", np.subtract(logh, prev, out=t))
        put("log_low", np.subtract(logl, prev, out=t))
        put("log_range", np.subtract(logh, logl, out=t))
        del logh, logl
        r = np.subtract(logc, prev, out=prev)  # daily log return (NaN on day 0)
        put("log_close", r)
        logv = np.log1p(v)  # log1p: halted days have zero volume
        put("log_volume_change", _lag_diff(logv, 1, out=t))
        v20 = _Means(logv)(20)
        put("volume_ratio_20", np.subtract(logv, v20, out=v20))
        del logv, v20
        put("ret_5", _lag_diff(logc, 5, out=t))
        put("ret_20", _lag_diff(logc, 20, out=t))

        close_mean = _Means(c)
        mean20 = close_mean(20)
        for w in (5, 20, 60, 120):
            m = mean20 if w == 20 else close_mean(w)
            np.log(m, out=t)
            put(f"ma_ratio_{w}", np.subtract(t, logc, out=t))
            del m
        sq = _Means(np.multiply(c, c))(20)
        del close_mean

        # recursive smoothers: RSI gains/losses and ATR use Wilder's alpha = 1/14, MACD EMA12/EMA26/EMA9
        r0 = r.copy()
        r0[:, 0] = 0.0
        gain = np.maximum(r0, 0.0)
        avg_gain = _ema(gain, 1 / 14)
        np.maximum(np.negative(r0, out=gain), 0.0, out=gain)
        avg_loss = _ema(gain, 1 / 14)
        del gain
        np.add(avg_gain, avg_loss, out=avg_loss)
        np.divide(avg_gain, avg_loss, out=avg_gain)
        put("rsi_14", np.subtract(avg_gain, 0.5, out=avg_gain))
        del avg_gain, avg_loss
        macd = _ema(c, 2 / 13)
        macd -= _ema(c, 2 / 27)
        macd /= c
        put("macd", macd)
        signal = _ema(macd, 2 / 10)
        put("macd_signal", signal)
        put("macd_hist", np.subtract(macd, signal, out=macd))
        del macd, signal

        var20 = np.subtract(sq, np.multiply(mean20, mean20, out=t), out=sq)
        np.maximum(var20, 0.0, out=var20)
        sd20 = np.sqrt(var20, out=var20)
        # %b = (c - (mean - 2 sd)) / (4 sd)
        np.subtract(c, mean20, out=mean20)
        mean20 += 2 * sd20
        sd20 *= 4
        put("bb_pctb_20", np.divide(mean20, sd20, out=mean20))
        del mean20, sd20, var20, sq

        # true range: max(h - l, |h - previous close|, |l - previous close|); day 0 has no previous close
        cp = _lag(c, 1)
        a1 = np.subtract(h, cp)
        np.abs(a1, out=a1)
        np.subtract(l, cp, out=cp)
        np.abs(cp, out=cp)
        np.fmax(a1, cp, out=a1)
        tr = np.subtract(h, l, out=cp)
        np.fmax(tr, a1, out=tr)  # fmax: the NaN of day 0 yields h - l
        del a1
        atr = _ema(tr, 1 / 14)
        put("atr_14", np.divide(atr, c, out=atr))
        del atr, tr

        # Ichimoku: max/min are exact in float32, and the log ratios need only ~1e-7 relative
        hmax = _Extremes(h.astype(np.float32), np.fmax, 52)
        lmin = _Extremes(l.astype(np.float32), np.fmin, 52)
        c32 = c.astype(np.float32)

        def mid(w: int, hmax: _Extremes = hmax, lmin: _Extremes = lmin) -> np.ndarray:
            m = hmax(w)
            m += lmin(w)
            m *= 0.5
            return m

        conv, base = mid(9), mid(26)
        # log(x / c), not log(x) - log(c): the ratio keeps float32's relative precision (~1e-7)
        t32 = np.divide(conv, c32)
        put("ichimoku_conversion", np.log(t32, out=t32))
        np.divide(base, c32, out=t32)
        put("ichimoku_base", np.log(t32, out=t32))
        # leading spans are plotted 26 days ahead: the value shown at t was computed at t-26
        conv += base
        conv *= 0.5
        span_a = np.divide(_lag(conv, 26), c32, out=t32)
        put("ichimoku_span_a", np.log(span_a, out=span_a))
        del conv, base
        span_b = np.divide(_lag(mid(52), 26), c32, out=t32)
        put("ichimoku_span_b", np.log(span_b, out=span_b))
        del hmax, lmin, t32, c32

        rm = _Means(r0)
        mean_r = rm(20)
        r2 = _Means(np.multiply(r0, r0, out=r0))(20)
        np.subtract(r2, np.multiply(mean_r, mean_r, out=mean_r), out=r2)
        np.maximum(r2, 0.0, out=r2)
        put("volatility_20", np.sqrt(r2, out=r2))


_INDEX = {name: i for i, name in enumerate(FEATURE_NAMES)}


def compute_features(panel: Panel, progress: Callable[[int, int], None] | None = None,
                     out: np.ndarray | None = None) -> np.ndarray:
    """Raw (unscaled) features float32 [n_rows, len(FEATURE_NAMES)] for a panel sorted by (ticker, date).

    Undefined values (warm-up rows, zero-width Bollinger bands) are NaN; ``scaling.apply`` maps
    them to 0. ``progress(done_tickers, n_tickers)`` is called after each block of whole tickers.
    ``out`` (e.g. an ``np.lib.format.open_memmap`` of the final file) receives the rows in place.
    """
    n, nf = len(panel), len(FEATURE_NAMES)
    if out is None:
        out = np.empty((n, nf), dtype=np.float32)
    starts = row_starts(panel)
    nt = len(starts) - 1
    lengths = np.diff(starts)
    cols = (panel.open, panel.high, panel.low, panel.close, panel.volume)
    blocks = []
    k = 0
    while k < nt:
        # a block of whole tickers whose padded [B, W] grid stays within _BLOCK_ROWS cells
        j = k + 1
        width = int(lengths[k])
        while j < nt and max(width, int(lengths[j])) * (j - k + 1) <= _BLOCK_ROWS:
            width = max(width, int(lengths[j]))
            j += 1
        blocks.append((k, j, width))
        k = j

    def run(block: tuple[int, int, int]) -> int:
        k, j, width = block
        lo, hi = int(starts[k]), int(starts[j])
        if hi > lo:
            _features_of_block(cols, starts[k:j], lengths[k:j], lo, hi, width, out)
        return j

    # numpy releases the GIL inside its loops, so blocks (disjoint rows of out) run on all cores;
    # each block's result is the same whichever thread computes it
    workers = min(_threads(), len(blocks))
    if workers <= 1:
        done = map(run, blocks)
    else:
        pool = ThreadPoolExecutor(workers, thread_name_prefix="features")
        done = pool.map(run, blocks)
    try:
        for j in done:
            if progress is not None:
                progress(j, nt)
    finally:
        if workers > 1:
            pool.shutdown(cancel_futures=True)
    return out


def _threads() -> int:
    """Worker threads for the feature blocks: the cores this process may use (STOCKTUNE_PREP_THREADS caps it)."""
    env = get_env("STOCKTUNE_PREP_THREADS") or ""
    n = available_cores()
    return max(1, min(n, int(env))) if env.isdigit() and int(env) > 0 else max(1, n)


def _features_of_block(cols: tuple[np.ndarray, ...], starts: np.ndarray, lengths: np.ndarray,
                       lo: int, hi: int, width: int, out: np.ndarray) -> None:
    """Features of the tickers starting at rows ``starts`` (rows lo:hi of the panel) into out[lo:hi]."""
    nb = len(starts)
    W = -(-width // _EMA_CHUNK) * _EMA_CHUNK
    day = np.arange(W)
    # grid cell (b, t) holds row starts[b] + t; after a ticker's end, its last bar again (finite
    # padding that only ever feeds later padding: every feature is causal)
    last = np.maximum(lengths - 1, 0)
    src = starts[:, None] + np.minimum(day[None, :], last[:, None])
    np.minimum(src, len(cols[0]) - 1, out=src)  # a trailing ticker without rows
    o, h, l, c, v = (np.asarray(col, dtype=np.float64)[src] for col in cols)
    del src
    # one contiguous float32 plane per feature (cheap to fill), then each ticker's rows copied out
    # as a [length, F] transpose: both passes stay within the block's few MB
    buf = np.empty((len(FEATURE_NAMES), nb, W), dtype=np.float32)

    def put(name: str, values: np.ndarray) -> None:
        buf[_INDEX[name]] = values

    _block_features(o, h, l, c, v, put)
    del o, h, l, c, v
    row = lo
    for b in range(nb):  # a memcpy-like copy per ticker; the arithmetic above is per block
        m = int(lengths[b])
        out[row:row + m] = buf[:, b, :m].T
        row += m
