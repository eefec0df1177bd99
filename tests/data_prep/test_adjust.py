"""Split/merge adjustment: each information source, and detection on synthetic and real (AAPL) splits."""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from common.errors import InputError
from data_prep.adjust import adjust, detect_splits
from data_prep.panel import Panel
from data_prep.sources import load_source
from data_prep.validate import validate

AAPL_SPLITS = ("2000-06-21", "2005-02-28")  # both 2-for-1; the 2014 7-for-1 is after the data


def _toy(prices: list[float], volume: list[float] | None = None, **extra) -> Panel:
    n = len(prices)
    c = np.asarray(prices, dtype=float)
    dates = np.arange(np.datetime64("2020-01-01"), np.datetime64("2020-01-01") + n)
    return Panel(tickers=["X"], ticker=np.zeros(n, np.int32), date=dates, open=c.copy(), high=c * 1.01,
                 low=c * 0.99, close=c.copy(), volume=np.asarray(volume or [100.0] * n),
                 extra={k: np.asarray(v, dtype=float) for k, v in extra.items()})


def _close_jump(panel: Panel, ticker: str, date: str) -> float:
    k = panel.tickers.index(ticker)
    i = int(np.flatnonzero((panel.ticker == k) & (panel.date == np.datetime64(date)))[0])
    return float(np.log(panel.close[i] / panel.close[i - 1]))


def test_events_convention_divides_prices_before_the_date():
    p = _toy([100, 102, 51, 52], [10, 10, 20, 20])
    ev = pd.DataFrame({"ticker": ["X"], "date": [pd.Timestamp("2020-01-03")], "ratio": [2.0]})
    q, adj = adjust(p, ev)
    assert np.allclose(q.close, [50, 51, 51, 52]) and np.allclose(q.volume, [20, 20, 20, 20])
    assert adj == [{"ticker": "X", "date": "2020-01-03", "ratio": 2.0, "method": "events"}]


def test_events_for_unknown_tickers_or_before_the_data_change_nothing():
    p = _toy([100, 101, 102])
    ev = pd.DataFrame({"ticker": ["Y", "X"], "date": pd.to_datetime(["2020-01-02", "2019-01-01"]), "ratio": [2, 5]})
    q, adj = adjust(p, ev)
    assert np.allclose(q.close, p.close) and adj == []


def test_adj_factor_column():
    p = _toy([100, 102, 51, 52], adj_factor=[1, 1, 2, 2])
    q, adj = adjust(p, None)
    assert np.allclose(q.close, [50, 51, 51, 52])
    assert adj == [{"ticker": "X", "date": "2020-01-03", "ratio": 2.0, "method": "adj_factor"}]


def test_mode_none_and_bad_mode():
    p = _toy([100, 102, 51, 52])
    q, adj = adjust(p, None, mode="none")
    assert q is p and adj == []
    with pytest.raises(InputError, match="adjust must be 'auto' or 'none'"):
        adjust(p, None, mode="maybe")


@pytest.fixture(scope="module")
def sample():
    return validate(load_source("sample"), min_rows=30).panel


def test_sample_aapl_via_adj_close(sample):
    for d in AAPL_SPLITS:
        assert _close_jump(sample, "AAPL", d) < -0.55  # unadjusted: the price halves
    q, adj = adjust(sample, None)
    (aapl,) = [a for a in adj if a["ticker"] == "AAPL"]
    assert aapl["method"] == "adj_close"
    assert [s["date"] for s in aapl["splits"]] == list(AAPL_SPLITS)
    assert all(abs(s["ratio"] - 2.0) < 0.05 for s in aapl["splits"])
    assert 3.9 < aapl["total_factor"] < 4.2
    for d in AAPL_SPLITS:
        assert abs(_close_jump(q, "AAPL", d)) < 0.15


def test_sample_aapl_by_detection_only(sample):
    q, adj = adjust(replace(sample, extra={}), None)
    found = {(a["ticker"], a["date"]): a for a in adj}
    for d in AAPL_SPLITS:
        assert found[("AAPL", d)]["method"] == "detected" and found[("AAPL", d)]["ratio"] == 2.0
        assert abs(_close_jump(q, "AAPL", d)) < 0.15
    # 2000-09-29 was a real -52% crash (a profit warning), not a split: it must stay
    assert ("AAPL", "2000-09-29") not in found
    assert _close_jump(q, "AAPL", "2000-09-29") < -0.6


@pytest.mark.parametrize("seed", [0, 1])
def test_detection_on_synthetic_market(seed):
    raw = load_source(f"synthetic:tickers=300,days=2000,seed={seed}")
    panel = validate(raw, min_rows=30).panel
    kept = set(panel.tickers)
    planted = {(t, str(d.date()), round(float(r), 4)) for t, d, r in
               zip(raw.events["ticker"], raw.events["date"], raw.events["ratio"]) if t in kept}
    assert len(planted) > 100
    q, adj = adjust(panel, None)
    found = {(a["ticker"], a["date"], round(a["ratio"], 4)) for a in adj}
    assert all(a["method"] == "detected" and 0 <= a["confidence"] <= 1 for a in adj)
    hits = len(planted & found)
    assert hits / len(planted) >= 0.95, sorted(planted - found)[:10]
    assert hits / len(found) >= 0.95, sorted(found - planted)[:10]
    # after adjusting, no move beyond the daily limit is left where a split was planted
    r = np.diff(np.log(q.close))
    same = q.ticker[1:] == q.ticker[:-1]
    beyond = (r[same] < np.log(0.7) - 0.01) | (r[same] > np.log(1.3) + 0.01)
    assert beyond.sum() <= len(planted - found) + len(found - planted)


def test_detection_ignores_a_one_day_spike_and_a_limit_move():
    # a bad print that reverts is no split; a +-30% limit move is a normal day
    spike = [100.0] * 30 + [50.0] + [100.0] * 30
    limit = [100.0] * 30 + [70.0] * 31
    for prices in (spike, limit):
        assert len(detect_splits(_toy(prices))) == 0
