"""The synthetic market: deterministic, realistic in the ways prep must handle, and loadable from files."""
from __future__ import annotations

import numpy as np
import pytest

from data_prep.adjust import apply_factors
from data_prep.sources import load_source
from data_prep.synthetic import SPLIT_RATIOS, generate, write_market


@pytest.fixture(scope="module")
def market():
    return generate(120, 900, seed=3)


def _log_returns(panel):
    r = np.diff(np.log(panel.close), prepend=np.nan)
    same = np.zeros(len(panel), dtype=bool)
    same[1:] = panel.ticker[1:] == panel.ticker[:-1]
    return np.where(same, r, np.nan)


def test_same_seed_same_market_other_seed_differs(market):
    panel, events = market
    again, events2 = generate(120, 900, seed=3)
    assert np.array_equal(panel.close, again.close) and np.array_equal(panel.date, again.date)
    assert events.equals(events2)
    other, _ = generate(120, 900, seed=4)
    assert len(other) != len(panel) or not np.array_equal(other.close, panel.close)


def test_sorted_positive_and_consistent_bars(market):
    p, _ = market
    assert np.all(np.diff(p.ticker) >= 0)
    same = p.ticker[1:] == p.ticker[:-1]
    assert np.all(np.diff(p.date.astype(np.int64))[same] > 0)
    assert np.all(np.is_busday(p.date))
    for col in (p.open, p.high, p.low, p.close):
        assert np.all(col > 0)
    assert np.all(p.high >= np.maximum(p.open, p.close))
    assert np.all(p.low <= np.minimum(p.open, p.close))
    assert np.all(p.volume >= 0)


def test_ragged_listings_halts_and_price_scale(market):
    p, _ = market
    starts = p.starts
    first = p.date[starts[:-1]]
    last = p.date[starts[1:] - 1]
    assert len(np.unique(first)) > 10 and len(np.unique(last)) > 5  # listings and delistings differ
    lengths = np.diff(starts)
    assert lengths.min() < 60 < lengths.max()  # some tickers too short to use
    halted = p.volume == 0
    assert 0.0005 < halted.mean() < 0.05
    # a halted day does not trade: flat bar at the previous close
    h = np.flatnonzero(halted & (np.arange(len(p)) > 0))
    h = h[p.ticker[h] == p.ticker[h - 1]]
    assert np.allclose(p.close[h], p.close[h - 1]) and np.allclose(p.high[h], p.low[h])
    assert 100 < np.median(p.close) < 1_000_000  # KRW-like levels


def test_splits_are_unadjusted_jumps_with_inverse_volume(market):
    p, events = market
    assert len(events) > 10
    assert set(np.round(events["ratio"], 6)) <= set(np.round(SPLIT_RATIOS, 6))
    code = {t: k for k, t in enumerate(p.tickers)}
    for t, d, ratio in zip(events["ticker"], events["date"], events["ratio"]):
        rows = np.flatnonzero(p.ticker == code[t])
        i = rows[np.searchsorted(p.date[rows], np.datetime64(d.date()))]
        assert p.date[i] == np.datetime64(d.date())
        jump = p.close[i - 1] / p.close[i]
        assert abs(np.log(jump / ratio)) < np.log(1.3) + 0.02  # 1/ratio times one day's move
        v_before = np.median(p.volume[i - 10:i])
        v_after = np.median(p.volume[i:i + 10])
        assert abs(np.log(v_after / v_before / ratio)) < 1.5


def test_adjusting_by_events_leaves_moves_inside_the_daily_limit(market):
    p, events = market
    from data_prep.adjust import _events_factor

    factor, _ = _events_factor(p, events)
    adj = apply_factors(p, factor)
    r = _log_returns(adj)
    ok = ~np.isnan(r)
    # price limits hold on the adjusted series: no day beyond +-30% (plus rounding)
    assert np.all(r[ok] > np.log(0.7) - 0.01) and np.all(r[ok] < np.log(1.3) + 0.01)
    # and the unadjusted series does break them (the splits)
    assert np.nanmax(np.abs(_log_returns(p))) > np.log(1.9)


def test_fat_tails_and_volatility_clustering():
    p, events = generate(60, 1500, seed=5)
    r = _log_returns(p)
    keep = ~np.isnan(r) & (p.volume > 0) & (np.abs(r) < 0.4)  # drop split days
    z = (r[keep] - r[keep].mean()) / r[keep].std()
    kurt = float(np.mean(z**4))
    assert kurt > 4.0  # a normal has 3
    a = np.abs(r)
    same_t = p.ticker[1:] == p.ticker[:-1]
    k2 = keep[1:] & keep[:-1] & same_t
    ac = np.corrcoef(a[1:][k2], a[:-1][k2])[0, 1]
    assert ac > 0.05  # |returns| cluster


def _signal_corr(signal: float) -> float:
    p, _ = generate(150, 700, seed=11, signal=signal)
    r = _log_returns(p)
    r = np.where(np.abs(r) > 0.4, np.nan, r)  # split days are not returns
    n = len(r)
    past = np.full(n, np.nan)
    c = np.nancumsum(np.nan_to_num(r))
    past[6:] = c[5:-1] - c[:-6]  # sum of r[i-5..i-1]
    fut = r
    same = np.zeros(n, dtype=bool)
    same[6:] = p.ticker[6:] == p.ticker[:-6]
    ok = same & ~np.isnan(fut) & ~np.isnan(past) & (p.volume > 0)
    return float(np.corrcoef(past[ok], fut[ok])[0, 1])


def test_signal_plants_mean_reversion_and_zero_signal_has_none():
    assert _signal_corr(2.0) < -0.15
    assert abs(_signal_corr(0.0)) < 0.03


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_write_market_round_trips_through_load_source(tmp_path, fmt):
    panel, events = generate(8, 120, seed=1)
    written = write_market(tmp_path / "m", 8, 120, seed=1, fmt=fmt, events_path=tmp_path / "events.csv")
    assert written.equals(events)
    assert len(list((tmp_path / "m").glob(f"*.{fmt}"))) == 8
    raw = load_source(str(tmp_path / "m"))
    assert raw.kind == "dir" and raw.panel.tickers == panel.tickers  # '000001' keeps its zeros
    order = np.lexsort((raw.panel.date, raw.panel.ticker))
    assert np.array_equal(raw.panel.date[order], panel.date)
    assert np.allclose(raw.panel.close[order], panel.close) and np.allclose(raw.panel.volume[order], panel.volume)
    from data_prep.sources import load_events

    ev = load_events(tmp_path / "events.csv")
    assert list(ev["ticker"]) == list(events["ticker"]) and np.allclose(ev["ratio"], events["ratio"])
