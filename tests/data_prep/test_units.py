"""Unit changes, weekend rows and constant prices on in-memory panels (the CLI cases are in
test_real_inputs_units_cli.py)."""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from common.errors import InputError
from data_prep.adjust import adjust
from data_prep.panel import Panel
from data_prep.sources import RawInput
from data_prep.synthetic import generate
from data_prep.units import detect_unit_changes
from data_prep.validate import validate
from data_prep.weekends import weekend_rows


def _panel(n: int = 400, seed: int = 0, start: str = "2015-01-05", weekdays: bool = True) -> Panel:
    """One ticker's random walk on business days (or every calendar day)."""
    rng = np.random.default_rng(seed)
    c = 40 * np.exp(np.cumsum(rng.normal(0, 0.015, n)))
    o = c * np.exp(rng.normal(0, 0.004, n))
    days = np.arange(np.datetime64(start), np.datetime64(start) + 3 * n)
    days = days[np.isin((days.astype(np.int64) + 3) % 7, [0, 1, 2, 3, 4])] if weekdays else days
    return Panel(tickers=["A"], ticker=np.zeros(n, np.int32), date=days[:n].astype("datetime64[D]"), open=o,
                 high=np.maximum(o, c) * 1.01, low=np.minimum(o, c) * 0.99, close=c,
                 volume=rng.integers(10_000, 50_000, n).astype(float))


def _scaled(p: Panel, factor: float, start: int, end: int | None = None, volume: float = 1.0) -> Panel:
    f = np.ones(len(p))
    f[start:end] = factor
    v = np.ones(len(p))
    v[start:end] = volume
    return replace(p, open=p.open * f, high=p.high * f, low=p.low * f, close=p.close * f, volume=p.volume * v)


@pytest.mark.parametrize("factor", [100.0, 1000.0, 0.01, 0.001, 10.0, 0.1, 1e6])
def test_a_persistent_power_of_ten_with_volume_unchanged_is_undone_on_prices_only(factor):
    p = _panel()
    q = _scaled(p, factor, 250)
    (found,) = detect_unit_changes(q)
    assert (found["row"], found["factor"], found["date"]) == (250, factor, str(p.date[250]))
    adjusted, adj = adjust(q, None)
    assert [a["method"] for a in adj] == ["unit_change"]
    np.testing.assert_allclose(adjusted.close, p.close * factor, rtol=1e-12)  # the latest date's scale
    np.testing.assert_array_equal(adjusted.volume, p.volume)


def test_a_stretch_in_other_units_is_undone_at_both_ends():
    p = _panel()
    adjusted, adj = adjust(_scaled(p, 100.0, 200, 240), None)
    assert [(a["factor"], a["date"]) for a in adj] == [(100.0, str(p.date[200])), (0.01, str(p.date[240]))]
    np.testing.assert_allclose(adjusted.close, p.close, rtol=1e-12)


@pytest.mark.parametrize("factor, volume, ratio", [(10.0, 0.1, 0.1), (0.1, 10.0, 10.0), (0.5, 2.0, 2.0)])
def test_a_split_whose_volume_moves_inversely_stays_a_split(factor, volume, ratio):
    _, adj = adjust(_scaled(_panel(), factor, 250, volume=volume), None)
    assert [(a["method"], a["ratio"]) for a in adj] == [("detected", ratio)]


@pytest.mark.parametrize("days", [1, 2])
def test_a_x100_bad_print_that_reverts_is_refused(days):
    p = _panel()
    with pytest.raises(InputError, match=rf"x100 overnight .* on {p.date[250]}\) and does not stay there"):
        adjust(_scaled(p, 100.0, 250, 250 + days), None)


def test_a_x10_day_that_reverts_and_a_clean_market_are_no_unit_change():
    assert detect_unit_changes(_scaled(_panel(), 10.0, 250, 251)) == []
    panel, _ = generate(40, 1500, 3)  # planted splits (ratios 2 .. 10, volume inverse), no unit change
    assert detect_unit_changes(adjust(panel, None)[0]) == []
    assert not [a for a in adjust(panel, None)[1] if a["method"] == "unit_change"]


def test_mode_none_leaves_a_unit_change():
    q = _scaled(_panel(), 100.0, 250)
    out, adj = adjust(q, None, "none")
    assert out is q and adj == []


def test_stale_weekend_rows_are_dropped_and_trading_ones_kept():
    p = _panel(n=700, weekdays=False)  # every calendar day
    day = (p.date.astype(np.int64) + 3) % 7
    close, vol = p.close.copy(), p.volume.copy()
    o, h, lo = p.open.copy(), p.high.copy(), p.low.copy()
    for i in np.flatnonzero(day == 5)[:-10]:  # Saturdays: Friday's close repeated, volume 0 ...
        o[i] = h[i] = lo[i] = close[i] = close[i - 1]
        vol[i] = 0
    sundays = np.flatnonzero(day == 6)
    for i in sundays:  # ... Sundays after a stale Saturday: the whole Saturday bar repeated
        o[i], h[i], lo[i], close[i], vol[i] = o[i - 1], h[i - 1], lo[i - 1], close[i - 1], 0
    q = replace(p, open=o, high=h, low=lo, close=close, volume=vol)
    out, report = weekend_rows(q)
    n_weekend = int((day >= 5).sum())
    (r,) = report
    assert r["dropped_stale"] + r["kept_trading"] == n_weekend and r["kept_trading"] == 10  # 10 traded Saturdays
    assert len(out) == len(p) - r["dropped_stale"]
    plain = _panel()
    out, report = weekend_rows(plain)
    assert out is plain and report == []  # business days only: nothing to say


def _raw(p: Panel) -> RawInput:
    return RawInput(panel=p, content_key="k", events=None, kind="file", description="test")


def test_a_constant_close_is_skipped_with_its_reason_and_refused_when_alone():
    p = _panel(n=300)
    flat = replace(p, tickers=["F"], open=np.full(300, 7.0), high=np.full(300, 7.0), low=np.full(300, 7.0),
                   close=np.full(300, 7.0))
    both = Panel(tickers=["A", "F"], ticker=np.r_[p.ticker, flat.ticker + 1], date=np.r_[p.date, flat.date],
                 open=np.r_[p.open, flat.open], high=np.r_[p.high, flat.high], low=np.r_[p.low, flat.low],
                 close=np.r_[p.close, flat.close], volume=np.r_[p.volume, flat.volume])
    checked = validate(_raw(both), 150)
    assert checked.panel.tickers == ["A"]
    (s,) = checked.skipped
    assert s["ticker"] == "F" and s["constant_price"] == 7.0 and "never moves" in s["reason"]
    with pytest.raises(InputError, match="constant close"):
        validate(_raw(flat), 150)
