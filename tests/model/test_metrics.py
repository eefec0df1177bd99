"""Metrics on hand-made cases."""
from __future__ import annotations

import numpy as np
import pytest

from model.metrics import rank_ic, regression_metrics


def _panel(n_dates=6, n_tickers=5, seed=0):
    rng = np.random.default_rng(seed)
    dates = np.repeat(np.arange(n_dates), n_tickers)
    target = rng.uniform(size=n_dates * n_tickers)
    return dates, target


def test_ic_of_a_perfect_ranking_is_one_and_of_the_reversed_ranking_minus_one():
    dates, target = _panel()
    assert rank_ic(target ** 3, target, dates)[0] == pytest.approx(1.0)  # monotone: same ranks
    assert rank_ic(-target, target, dates)[0] == pytest.approx(-1.0)
    ic, icir, n = rank_ic(target * 0 + 0.5, target, dates)  # a constant prediction ranks nothing
    assert (ic, icir, n) == (0.0, 0.0, 6)


def test_ic_is_per_date_not_pooled():
    # within each date the ranking is perfect, but date 1's level is below date 0's
    dates = np.array([0, 0, 0, 1, 1, 1])
    target = np.array([0.1, 0.2, 0.3, 0.7, 0.8, 0.9])
    pred = np.array([0.5, 0.6, 0.7, 0.0, 0.1, 0.2])
    assert rank_ic(pred, target, dates)[0] == pytest.approx(1.0)


def test_dates_with_too_few_tickers_are_skipped():
    dates = np.array([0, 0, 1, 1, 1])
    target = np.array([0.1, 0.9, 0.1, 0.5, 0.9])
    pred = np.array([0.9, 0.1, 0.1, 0.5, 0.9])  # date 0 reversed but only 2 tickers
    assert rank_ic(pred, target, dates) == (pytest.approx(1.0), 0.0, 1)


def test_icir_is_mean_over_std_of_daily_ic():
    dates = np.repeat([0, 1, 2], 3)
    target = np.tile([0.1, 0.5, 0.9], 3)
    pred = np.concatenate([[1, 2, 3], [1, 2, 3], [1, 3, 2]])  # IC 1, 1, 0.5
    ic, icir, _ = rank_ic(pred, target, dates)
    daily = np.array([1.0, 1.0, 0.5])
    assert ic == pytest.approx(daily.mean()) and icir == pytest.approx(daily.mean() / daily.std(ddof=1))


def test_directional_accuracy_and_errors():
    target = np.array([0.9, 0.8, 0.2, 0.1])
    pred = np.array([0.6, 0.4, 0.3, 0.7])  # right, wrong, right, wrong
    m = regression_metrics(pred, target, None, train_mean=0.5)
    assert m["val_dir_acc"] == 0.5
    assert m["val_mae"] == pytest.approx(np.mean([0.3, 0.4, 0.1, 0.6]))
    assert m["val_rmse"] == pytest.approx(np.sqrt(np.mean([0.09, 0.16, 0.01, 0.36])))


def test_baselines_on_a_uniform_target():
    target = np.random.default_rng(0).uniform(size=200_000)
    m = regression_metrics(np.full_like(target, 0.5), target, None, train_mean=0.7)
    assert m["baseline_mae_half"] == pytest.approx(0.25, abs=0.002)
    # E|U - 0.7| = (0.7^2 + 0.3^2) / 2 = 0.29
    assert m["baseline_mae_mean"] == pytest.approx(0.29, abs=0.002)
    assert m["val_skill_half"] == pytest.approx(0.0, abs=1e-12)
    assert m["val_skill_mean"] == pytest.approx(1 - 0.25 / 0.29, abs=0.01)
