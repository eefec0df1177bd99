"""Window ends: inside one ticker, after warm-up, with a defined target, never across a long halt."""
from __future__ import annotations

import numpy as np
from _market import random_walk_panel

from data_prep.windows import long_halt_rows, window_ends

L, H, W = 20, 5, 120


def test_windows_stay_inside_one_ticker_after_warmup():
    p = random_walk_panel(tickers=6, days=300, seed=0)
    ends = window_ends(p, L, H, W, max_halt_days=5)
    assert ends.dtype == np.int64 and np.all(np.diff(ends) > 0)
    pos = ends - p.starts[p.ticker[ends]]
    length = np.diff(p.starts)[p.ticker[ends]]
    assert np.all(pos - L + 1 >= W) and np.all(pos + H < length)
    assert np.all(p.ticker[ends - L + 1] == p.ticker[ends]) and np.all(p.ticker[ends + H] == p.ticker[ends])
    # and it is every such row: count per ticker = length - W - L + 1 - H
    lengths = np.diff(p.starts)
    assert len(ends) == int(np.sum(np.maximum(lengths - W - L + 1 - H, 0)))


def test_long_halts_break_windows_short_ones_do_not():
    p = random_walk_panel(tickers=2, days=400, seed=1, ragged=False, halts=True)  # 10-day halt at rows 250..259
    assert long_halt_rows(p, 10).sum() == 0
    assert long_halt_rows(p, 9).sum() == 20  # both tickers
    ends = window_ends(p, L, H, W, max_halt_days=9)
    first, last = ends - L + 1, ends + H
    halted = np.flatnonzero(p.volume == 0)
    for i in halted:  # no window's input or target span touches a halted row
        assert not np.any((first <= i) & (i <= last))
    assert len(window_ends(p, L, H, W, max_halt_days=10)) > len(ends)


def test_halt_runs_do_not_join_across_tickers():
    p = random_walk_panel(tickers=2, days=300, seed=2, ragged=False)
    v = p.volume.copy()
    b = int(p.starts[1])
    v[b - 3:b + 3] = 0.0  # 3 zero days at the end of ticker 0 and 3 at the start of ticker 1
    q = type(p)(**{**p.__dict__, "volume": v})
    assert long_halt_rows(q, 3).sum() == 0 and long_halt_rows(q, 2).sum() == 6
