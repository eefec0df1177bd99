"""Selection statistics: PBO on textbook cases, the bar of the best of N, skill with its standard error."""
from __future__ import annotations

import math

import numpy as np
import pytest

from model.selection import (
    DateSeries,
    concat,
    date_series,
    equivalent_trials,
    mean_correlation,
    norm_cdf,
    norm_ppf,
    pbo,
    selection_bar,
    skill_with_se,
)


def test_pbo_is_zero_when_one_configuration_is_best_in_every_block():
    rng = np.random.default_rng(0)
    perf = rng.normal(0, 1, (10, 20))
    perf[:, 7] += 5.0  # best everywhere
    value, logits = pbo(perf)
    assert value == 0.0 and (logits > 0).all()


def test_pbo_is_about_one_half_for_iid_noise():
    """Averaged over many noise matrices (one matrix's PBO is itself noisy)."""
    rng = np.random.default_rng(1)
    values = [pbo(rng.normal(0, 1, (10, 25)))[0] for _ in range(40)]
    assert 0.42 < np.mean(values) < 0.58


def test_pbo_is_high_when_the_in_sample_winner_reverses():
    """Configurations good in one half of the blocks are bad in the other (overfit by construction)."""
    rng = np.random.default_rng(2)
    skill = rng.normal(0, 1, 16)
    signs = np.array([1, -1] * 5)[:, None]  # alternating regimes
    perf = signs * skill[None, :] + rng.normal(0, 0.05, (10, 16))
    assert pbo(perf)[0] > 0.4


def test_pbo_rejects_an_odd_number_of_blocks():
    with pytest.raises(ValueError):
        pbo(np.zeros((5, 3)))


@pytest.mark.parametrize("n, rho", [(1, 0.0), (2, 0.0), (12, 0.0), (12, 0.5), (6, 0.9), (12, 0.99)])
def test_the_selection_bar_is_exceeded_by_the_best_of_n_normals_five_percent_of_the_time(n, rho):
    """Equicorrelated normals simulated directly: the rate is alpha whatever n and rho are (the old
    E[max] + 1 SE rule drifted from 5 % to 17 %)."""
    rng = np.random.default_rng(3)
    common = rng.standard_normal((40_000, 1))
    z = math.sqrt(rho) * common + math.sqrt(1 - rho) * rng.standard_normal((40_000, n))
    rate = (z.max(axis=1) > selection_bar(n, rho)).mean()
    assert rate == pytest.approx(0.05, abs=0.006)


def test_the_selection_bar_at_its_limits_is_sidak_and_one_sided():
    assert selection_bar(12, 0.0) == pytest.approx(norm_ppf(0.95 ** (1 / 12)), abs=2e-3)
    assert selection_bar(12, 1.0) == pytest.approx(1.6449, abs=1e-3) == selection_bar(1, 0.3)
    assert equivalent_trials(selection_bar(12, 0.0)) == pytest.approx(12, rel=0.02)
    assert 1.0 < equivalent_trials(selection_bar(12, 0.99)) < 2.0  # the bar never drops below one trial's
    assert selection_bar(12, float("nan")) == selection_bar(12, 0.0)  # unknown correlation: independent


def test_norm_cdf_inverts_norm_ppf():
    for p in (0.001, 0.05, 0.5, 0.9, 0.995):
        assert float(norm_cdf(np.array(norm_ppf(p)))) == pytest.approx(p, abs=2e-7)


def test_mean_correlation_of_identical_and_independent_series():
    rng = np.random.default_rng(4)
    x = rng.normal(size=(500, 1))
    assert mean_correlation(np.repeat(x, 8, axis=1)) == pytest.approx(1.0)
    assert mean_correlation(rng.normal(size=(500, 8))) == pytest.approx(0.0, abs=0.05)
    assert mean_correlation(x) is None  # one trial says nothing about a correlation


def _windows(n_dates: int, per_date: int, rng) -> tuple[np.ndarray, np.ndarray]:
    dates = np.repeat(np.datetime64("2020-01-01") + np.arange(n_dates), per_date)
    return dates, rng.uniform(0, 1, dates.size)


def test_skill_is_one_minus_the_mae_ratio_and_its_se_grows_with_overlap():
    rng = np.random.default_rng(5)
    dates, target = _windows(400, 20, rng)
    pred = np.clip(target + rng.normal(0, 0.25, target.size), 0, 1)
    s = date_series(pred, target, dates, train_mean=0.5)
    skill, se = skill_with_se(s, look_ahead=1)
    assert skill == pytest.approx(1 - np.abs(target - pred).mean() / np.abs(target - 0.5).mean())
    assert 0 < se < abs(skill)
    # per-date gains that follow an MA(4) process, as 5-day overlapping targets make them: the SE with
    # 4 lags is about sqrt(5) times the naive one
    gain = np.convolve(rng.normal(size=2004), np.ones(5), "valid")
    n = gain.size
    s2 = DateSeries(np.datetime64("2020-01-01") + np.arange(n), np.full(n, 20.0), 5.0 - gain, np.full(n, 5.0),
                    np.full(n, 5.0), np.zeros(n))
    naive, overlap = skill_with_se(s2, look_ahead=1)[1], skill_with_se(s2, look_ahead=5)[1]
    assert overlap / naive == pytest.approx(math.sqrt(5), rel=0.2)


def test_series_of_folds_concatenate_in_date_order():
    rng = np.random.default_rng(6)
    d1, t1 = _windows(10, 5, rng)
    d2 = d1 + 30
    a, b = date_series(t1, t1, d2, 0.5), date_series(t1, t1, d1, 0.5)
    s = concat([a, b])
    assert (np.diff(s.date.astype(np.int64)) > 0).all() and s.date.size == 20
    assert math.isclose(skill_with_se(s, 1)[0], 1.0)
