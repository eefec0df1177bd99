"""Scaling: into [-1, 1], robust, NaN-safe, fitted on the given (training) rows only."""
from __future__ import annotations

import json

import numpy as np

from data_prep.scaling import apply, fit_scaler


def test_output_in_range_and_finite():
    rng = np.random.default_rng(0)
    x = rng.standard_t(2, size=(5000, 3)).astype(np.float32) * [1, 100, 1e-4]
    x[5, 0], x[6, 1], x[7, 2] = np.nan, np.inf, -np.inf
    s = fit_scaler(x, np.arange(4000))
    y = apply(x, s)
    assert np.isfinite(y).all() and y.min() >= -1 and y.max() <= 1
    assert y[5, 0] == 0.0 and y[6, 1] == 1.0 and y[7, 2] == -1.0
    # robust: each feature's median maps to ~0 whatever its units
    assert np.all(np.abs(np.median(y[:4000], axis=0)) < 0.05)
    json.dumps(s)  # stored in meta.json


def test_fitted_on_given_rows_only():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(2000, 2)).astype(np.float32)
    s1 = fit_scaler(x, np.arange(1000))
    x2 = x.copy()
    x2[1000:] = 1e6  # the "val/test" rows change wildly
    s2 = fit_scaler(x2, np.arange(1000))
    assert s1 == s2


def test_in_place_matches_copy():
    x = np.random.default_rng(2).normal(size=(300, 4)).astype(np.float32)
    s = fit_scaler(x, np.arange(300))
    y = apply(x, s)
    apply(x, s, out=x)
    np.testing.assert_array_equal(x, y)


def test_constant_feature_does_not_divide_by_zero():
    x = np.ones((100, 1), np.float32)
    s = fit_scaler(x, np.arange(100))
    assert np.all(apply(x, s) == 0.0)
