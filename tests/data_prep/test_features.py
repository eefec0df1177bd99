"""Features: correct against a pandas reference, per-ticker (no leakage across tickers), block-independent."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from _market import random_walk_panel

import data_prep.features as features
from data_prep.features import FEATURE_NAMES, WARMUP, compute_features


@pytest.fixture(scope="module")
def panel():
    return random_walk_panel(tickers=5, days=400, seed=3)


@pytest.fixture(scope="module")
def feats(panel):
    return compute_features(panel)


def col(name: str) -> int:
    return FEATURE_NAMES.index(name)


def test_shape_names_and_finite_after_warmup(panel, feats):
    assert feats.shape == (len(panel), len(FEATURE_NAMES)) and feats.dtype == np.float32
    assert len(FEATURE_NAMES) >= 20 and len(set(FEATURE_NAMES)) == len(FEATURE_NAMES)
    st = panel.starts
    for k in range(len(panel.tickers)):
        assert np.isfinite(feats[st[k] + WARMUP: st[k + 1]]).all()


def test_matches_pandas_reference(panel, feats):
    st = panel.starts
    k = 2
    sl = slice(st[k], st[k + 1])
    c, h, lo, o = (pd.Series(getattr(panel, a)[sl]) for a in ("close", "high", "low", "open"))
    prev = c.shift(1)
    r = np.log(c).diff()
    ref = {
        "log_open": np.log(o / prev),
        "log_close": r,
        "ma_ratio_60": np.log(c.rolling(60).mean() / c),
        "ma_ratio_120": np.log(c.rolling(120).mean() / c),
        "macd": (c.ewm(alpha=2 / 13, adjust=False).mean() - c.ewm(alpha=2 / 27, adjust=False).mean()) / c,
        "ichimoku_base": np.log((h.rolling(26).max() + lo.rolling(26).min()) / 2 / c),
        "ichimoku_span_b": np.log(((h.rolling(52).max() + lo.rolling(52).min()) / 2).shift(26) / c),
        "bb_pctb_20": (c - (c.rolling(20).mean() - 2 * c.rolling(20).std(ddof=0))) / (4 * c.rolling(20).std(ddof=0)),
        "volatility_20": r.rolling(20).std(ddof=0),
    }
    gain = r.clip(lower=0).fillna(0).ewm(alpha=1 / 14, adjust=False).mean()
    loss = (-r).clip(lower=0).fillna(0).ewm(alpha=1 / 14, adjust=False).mean()
    ref["rsi_14"] = gain / (gain + loss) - 0.5
    for name, series in ref.items():
        got = feats[sl, col(name)][WARMUP:]
        np.testing.assert_allclose(got, series.to_numpy()[WARMUP:], rtol=1e-4, atol=1e-6, err_msg=name)


def test_no_leakage_across_tickers(panel, feats):
    """Each ticker's features depend only on its own rows: compute it alone and compare."""
    st = panel.starts
    for k in (0, 3):
        alone = panel.take(np.arange(st[k], st[k + 1]))
        alone = type(alone)(**{**alone.__dict__, "ticker": np.zeros(len(alone), np.int32), "tickers": ["X"]})
        np.testing.assert_array_equal(compute_features(alone), feats[st[k]:st[k + 1]])


def test_blocks_of_ragged_tickers_give_the_same_result(panel, feats, monkeypatch):
    monkeypatch.setattr(features, "_BLOCK_ROWS", 700)  # forces one ticker per block, padded grids
    seen = []
    small = compute_features(panel, progress=lambda done, total: seen.append((done, total)))
    np.testing.assert_array_equal(small, feats)
    assert seen[-1] == (5, 5) and len(seen) > 1


def test_zero_volume_is_finite(panel):
    p = random_walk_panel(tickers=2, days=400, seed=1, halts=True)
    f = compute_features(p)
    assert (p.volume == 0).any()
    st = p.starts
    assert np.isfinite(f[st[1] + WARMUP: st[2], col("log_volume_change")]).all()
