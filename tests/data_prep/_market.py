"""A tiny random-walk market for data_prep tests (independent of the synthetic source)."""
from __future__ import annotations

import numpy as np

from data_prep.panel import Panel


def random_walk_panel(tickers: int = 6, days: int = 400, seed: int = 0, ragged: bool = True,
                      halts: bool = False) -> Panel:
    """A panel sorted by (ticker, date) with business-day dates; tickers start at staggered dates."""
    rng = np.random.default_rng(seed)
    cal = np.arange(np.datetime64("2010-01-04"), np.datetime64("2010-01-04") + int(days * 1.5))
    cal = cal[np.is_busday(cal)][:days]
    cols: dict[str, list[np.ndarray]] = {k: [] for k in ("ticker", "date", "open", "high", "low", "close", "volume")}
    for k in range(tickers):
        first = int(rng.integers(0, days // 5)) if ragged and k else 0
        d = cal[first:]
        m = len(d)
        sigma = 0.01 + 0.02 * k / max(tickers - 1, 1)
        r = rng.normal(0.0, sigma, m)
        c = 50.0 * np.exp(np.cumsum(r))
        o = c * np.exp(rng.normal(0, sigma / 3, m))
        h = np.maximum(o, c) * np.exp(np.abs(rng.normal(0, sigma / 2, m)))
        lo = np.minimum(o, c) * np.exp(-np.abs(rng.normal(0, sigma / 2, m)))
        v = rng.integers(1_000, 100_000, m).astype(float)
        if halts and m > 300:
            v[250:260] = 0.0  # a 10-day halt
            c[250:260] = c[249]
        for key, arr in zip(cols, (np.full(m, k, np.int32), d, o, h, lo, c, v)):
            cols[key].append(arr)
    cat = {k: np.concatenate(v) for k, v in cols.items()}
    return Panel(tickers=[f"T{k:02d}" for k in range(tickers)], **cat)
