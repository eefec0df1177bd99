"""Target: forward returns within a ticker; cs_rank / ecdf / resample; fitted on training rows only."""
from __future__ import annotations

import numpy as np
import pytest
from _market import random_walk_panel

from data_prep.config import PrepConfig
from data_prep.stats import ks_uniform
from data_prep.target import apply_target, choose_method, daily_volatility, fit_target, forward_returns


@pytest.fixture(scope="module")
def panel():
    return random_walk_panel(tickers=8, days=500, seed=5)


def test_forward_returns_stay_within_ticker(panel):
    h = 5
    r = forward_returns(panel, h)
    st = panel.starts
    for k in range(len(panel.tickers)):
        a, b = st[k], st[k + 1]
        np.testing.assert_allclose(r[a:b - h], np.log(panel.close[a + h:b] / panel.close[a:b - h]))
        assert np.isnan(r[b - h:b]).all()


def test_daily_volatility_needs_its_own_rows(panel):
    s = daily_volatility(panel, 20)
    st = panel.starts
    assert np.isnan(s[st[1]: st[1] + 20]).all() and np.isfinite(s[st[1] + 20: st[2]]).all()


def test_cs_rank_is_uniform_per_date(panel):
    r = forward_returns(panel, 5)
    p = apply_target({"method": "cs_rank"}, r, np.ones_like(r), panel.date)
    day = panel.date[np.flatnonzero(np.isfinite(r))[-1]]
    on_day = np.isfinite(p) & (panel.date == day)
    n = on_day.sum()
    assert sorted(p[on_day]) == pytest.approx((np.arange(1, n + 1) - 0.5) / n)
    # higher return, higher rank
    assert np.all(np.diff(p[on_day][np.argsort(r[on_day])]) > 0)


def test_ecdf_is_fitted_on_training_rows_only(panel):
    r = forward_returns(panel, 5)
    s = daily_volatility(panel)
    train = np.flatnonzero(np.isfinite(r) & np.isfinite(s))[:2000]
    cfg = PrepConfig(target="ecdf")
    p1 = fit_target("ecdf", r, s, train, cfg)
    r2 = r.copy()
    r2[train[-1] + 1:] *= 10  # later (val/test) returns change
    assert fit_target("ecdf", r2, s, train, cfg) == p1
    prob = apply_target(p1, r[train], s[train], panel.date[train])
    assert ks_uniform(prob)[0] < 0.01
    assert np.nanmin(apply_target(p1, r2, s, panel.date)) >= 0.0


def test_resample_clips_instead_of_dropping(panel):
    r = forward_returns(panel, 5)
    s = daily_volatility(panel)
    train = np.flatnonzero(np.isfinite(r))
    cfg = PrepConfig(target="resample", resample_lower=0.1, resample_upper=0.9, resample_bins=20)
    params = fit_target("resample", r, s, train, cfg)
    prob = apply_target(params, r[train], s[train], panel.date[train])
    assert prob.shape == train.shape and np.isfinite(prob).all()  # nothing dropped
    assert prob.min() == pytest.approx(0.1) and prob.max() == pytest.approx(0.9)
    inner = prob[(prob > 0.1) & (prob < 0.9)]
    # flat between the clips: each decile of the support holds ~ the same share
    counts, _ = np.histogram(inner, bins=8, range=(0.1, 0.9))
    assert counts.min() > 0.6 * counts.max()
    # monotone
    order = np.argsort(r[train])
    assert np.all(np.diff(prob[order]) >= -1e-12)


def test_auto_choice(panel):
    assert choose_method(panel, PrepConfig(cs_rank_min_tickers=5)) == "cs_rank"
    assert choose_method(panel, PrepConfig(cs_rank_min_tickers=50)) == "ecdf"
    assert choose_method(panel, PrepConfig(target="resample")) == "resample"


def test_cs_rank_grid_path_equals_sort_path(panel):
    r = forward_returns(panel, 5)
    fast = apply_target({"method": "cs_rank"}, r, r, panel.date, panel.ticker)
    slow = apply_target({"method": "cs_rank"}, r, r, panel.date)
    np.testing.assert_allclose(fast, slow)
    assert np.isnan(fast[~np.isfinite(r)]).all()


def _coarse_tick_panel(days: int = 2500, tick: float = 0.5, seed: int = 3):
    """One stock around 20 on a 0.5 tick: the price often does not move for days (ties at r = 0)."""
    from data_prep.panel import Panel

    rng = np.random.default_rng(seed)
    c = np.maximum(np.round(20 * np.exp(np.cumsum(rng.normal(0, 0.01, days))) / tick) * tick, tick)
    o = np.r_[c[0], c[:-1]]
    cal = np.arange(np.datetime64("2005-01-03"), np.datetime64("2005-01-03") + 2 * days)
    return Panel(tickers=["TICK"], ticker=np.zeros(days, np.int32), date=cal[np.is_busday(cal)][:days], open=o,
                 high=np.maximum(o, c) + tick, low=np.maximum(np.minimum(o, c) - tick, tick / 2), close=c,
                 volume=rng.integers(1000, 5000, days).astype(float))


@pytest.mark.parametrize("look_ahead", [1, 5])
def test_ecdf_stays_uniform_with_tick_size_ties(tmp_path, look_ahead):
    from data_prep.pipeline import build_dataset

    panel = _coarse_tick_panel()
    cfg = PrepConfig(look_back=20, look_ahead=look_ahead)
    (tmp_path / "ds").mkdir()
    report = build_dataset(panel, cfg, tmp_path / "ds", {"source": "test"})
    train = np.load(tmp_path / "ds" / "train_ret.npy")
    assert report.target_method == "ecdf" and np.mean(train == 0) > 0.15  # many ties
    assert report.splits["train"].target_ks_stat <= 0.02
    # the same (date, ticker) gets the same draw on every build
    (tmp_path / "again").mkdir()
    build_dataset(panel, cfg, tmp_path / "again", {"source": "test"})
    np.testing.assert_array_equal(np.load(tmp_path / "ds" / "train_target.npy"),
                                  np.load(tmp_path / "again" / "train_target.npy"))


def test_ties_fill_the_band_of_their_training_mass():
    """A tied value lands uniformly between the CDF below the tie and at the tie, never outside it."""
    z = np.r_[np.zeros(300), np.linspace(-2, 2, 700)]
    params = fit_target("ecdf", z, np.ones_like(z), np.arange(z.size), PrepConfig(target="ecdf"))
    date = np.arange(np.datetime64("2010-01-01"), np.datetime64("2010-01-01") + z.size)
    out = apply_target(params, z, np.ones_like(z), date, np.zeros(z.size, np.int32))
    tied = out[:300]
    lo, hi = np.mean(z < 0), np.mean(z <= 0)
    assert tied.min() >= lo - 1e-3 and tied.max() <= hi + 1e-3 and np.ptp(tied) > 0.8 * (hi - lo)
    assert ks_uniform(out)[0] < 0.03
