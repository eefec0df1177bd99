"""The verdict's two answers as pure functions of simulated per-date series: a planted and a null
case for the paired comparison with the defaults, the fixes A and B, and the JSON of the typed result."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest

from model.selection import DateSeries, selection_bar, skill_with_se
from tuner.export import SHIP_DEFAULTS, what_to_ship
from tuner.verdict_stats import (
    AHEAD_NO_SKILL,
    BEATS,
    BETTER,
    NO_DEFAULTS,
    NOT_DISTINGUISHABLE,
    SAME,
    VERSION,
    WINNER_IS_DEFAULTS,
    WORSE,
    Verdict,
    answer_baselines,
    answer_defaults,
)

T, LOOK_AHEAD = 360, 5


def overlapping(rng: np.random.Generator, shape: tuple[int, ...] = ()) -> np.ndarray:
    """Unit-variance noise over T dates whose targets overlap over LOOK_AHEAD days."""
    e = rng.standard_normal(shape + (T + LOOK_AHEAD - 1,))
    c = np.concatenate([np.zeros(shape + (1,)), np.cumsum(e, axis=-1)], axis=-1)
    return (c[..., LOOK_AHEAD:] - c[..., :-LOOK_AHEAD]) / math.sqrt(LOOK_AHEAD)


def series(x: np.ndarray, base: np.ndarray) -> DateSeries:
    """The DateSeries whose per-date skill contributions vs always-0.5 are ``x``."""
    dates = np.datetime64("2021-01-04") + np.arange(x.size)
    return DateSeries(dates, np.full(x.size, 100.0), base - x * base.mean(), base, base, np.full(x.size, np.nan))


@pytest.fixture()
def market():
    rng = np.random.default_rng(7)
    return rng, 25.0 * (1 + 0.1 * rng.standard_normal(T))


def test_the_paired_verdict_finds_a_planted_edge_over_the_defaults(market):
    rng, base = market
    shared = overlapping(rng)  # both models see the same dates: most of their noise is common
    defaults = 0.02 * shared + 0.005 * overlapping(rng)
    winner = defaults + 0.004 + 0.005 * overlapping(rng)  # +0.4 % skill every date, far below the shared noise
    b = answer_defaults(series(winner, base), series(defaults, base), 12, LOOK_AHEAD, defaults_trial=0,
                        defaults_from="its trial", winner_beats=True)
    assert b.outcome == BETTER and b.better and b.z > b.bar_z
    assert b.difference == pytest.approx(0.004, abs=0.002) and b.n_dates == T
    # the same edge judged from two separate comparisons with always-0.5 drowns in the shared noise
    a = answer_baselines(series(winner, base), [series(winner, base)], 1, LOOK_AHEAD)
    assert a.outcome == NOT_DISTINGUISHABLE


def test_better_than_the_defaults_needs_the_winner_to_beat_the_baselines(market):
    """On a market with no signal the configurations still differ in how much they lose to always-0.5:
    a winner that only loses less than the defaults is not "better" (no model worth shipping)."""
    rng, base = market
    shared = overlapping(rng)
    defaults = -0.01 + 0.02 * shared + 0.005 * overlapping(rng)  # loses 1 % to always-0.5 every date
    winner = defaults + 0.006 + 0.005 * overlapping(rng)  # loses less, still below always-0.5
    a = answer_baselines(series(winner, base), [series(winner, base), series(defaults, base)], 12, LOOK_AHEAD)
    assert a.outcome == NOT_DISTINGUISHABLE and a.skill_half < 0
    b = answer_defaults(series(winner, base), series(defaults, base), 12, LOOK_AHEAD, defaults_trial=0,
                        defaults_from="its trial", winner_beats=a.beats)
    assert b.z > b.bar_z, b  # the paired test alone clears its bar
    assert b.outcome == AHEAD_NO_SKILL and not b.better
    assert what_to_ship(Verdict(3, "its trial", False, T, a, b, "M")) == SHIP_DEFAULTS


def test_equally_good_configurations_beat_the_baselines_whatever_their_pbo(market):
    """Six configurations with the same real skill: which one ranks first is noise, so PBO is about 0.5,
    yet the winner has skill far beyond the best of six no-signal trials. PBO is shown, not a gate
    (as a gate it vetoed z 4.2 vs a bar of 2.6 on a planted market of bench/payoff.py)."""
    rng, base = market
    shared = overlapping(rng)
    x = 0.02 + 0.02 * shared + 0.02 * overlapping(rng, (6,))  # +2 % skill each, own noise as large as the shared
    trials = [series(row, base) for row in x]
    win = int(np.argmax(x.mean(axis=1)))
    a = answer_baselines(trials[win], trials, 6, LOOK_AHEAD)
    assert a.pbo is not None and a.pbo >= 0.5, a.pbo  # the ranking does not carry over between blocks
    assert a.z > a.bar_z and a.outcome == BEATS, a
    assert "ranking does not hold" in a.line


def test_the_paired_verdict_on_a_null_market_is_not_better_and_a_worse_winner_is_worse(market):
    rng, base = market
    defaults = 0.02 * overlapping(rng)
    trials = defaults + 0.005 * overlapping(rng, (12,))  # 12 no-better configurations
    best = int(trials.mean(axis=1).argmax())  # chosen as the best of 12: luckily ahead of the defaults
    b = answer_defaults(series(trials[best], base), series(defaults, base), 13, LOOK_AHEAD, winner_beats=True)
    assert trials[best].mean() > defaults.mean() and b.z > 0
    assert b.outcome == SAME, b  # the best-of-12 bar absorbs the luck
    assert b.bar_z > selection_bar(1, 0.0)  # which a bar for one comparison would not
    worse = answer_defaults(series(defaults - 0.004, base), series(defaults, base), 13, LOOK_AHEAD, winner_beats=True)
    assert worse.outcome == WORSE and worse.z < worse.worse_z


def test_no_defaults_series_and_a_winner_that_is_the_defaults(market):
    rng, base = market
    s = series(0.02 * overlapping(rng), base)
    assert answer_defaults(s, None, 6, LOOK_AHEAD, winner_beats=True).outcome == NO_DEFAULTS
    same = answer_defaults(s, s, 6, LOOK_AHEAD, winner_is_defaults=True, defaults_trial=0, winner_beats=True)
    assert same.outcome == WINNER_IS_DEFAULTS and not same.better and "trial 0" in same.line


def test_fix_b_one_series_counts_the_trials_examined_not_one(market):
    """The pruner left one survivor of 12: the bar is the best of 12 independent trials, not of 1."""
    rng, base = market
    x = 0.02 * overlapping(rng)
    x -= x.mean()
    se = skill_with_se(series(x, base), LOOK_AHEAD)[1]
    s = series(x + 2.2 * se, base)  # z = 2.2: beats one trial's bar, not 12's
    one = answer_baselines(s, [s], 1, LOOK_AHEAD)
    twelve = answer_baselines(s, [s], 12, LOOK_AHEAD)
    assert one.trial_correlation is None and twelve.trial_correlation is None
    assert twelve.n_effective == pytest.approx(12, rel=0.02) and twelve.bar_z > selection_bar(12, 0.0)
    assert one.outcome == BEATS and twelve.outcome == NOT_DISTINGUISHABLE, (one.z, twelve.bar_z)


def test_fix_a_nearly_identical_trials_keep_a_bar_of_one_trial_at_least(market):
    """rho ~ 0.999 (N_eff ~ 1): the old E[max] term went negative and no correction was left."""
    rng, base = market
    common = 0.02 * overlapping(rng)
    trials = [series(common + 1e-4 * overlapping(rng), base) for _ in range(6)]
    a = answer_baselines(trials[0], trials, 6, LOOK_AHEAD)
    assert a.trial_correlation > 0.99 and a.bar_z >= selection_bar(1, 0.0) and a.n_effective >= 1.0


def test_the_verdict_json_is_versioned_strict_json(market):
    rng, base = market
    s = series(0.02 * overlapping(rng), base)
    a = answer_baselines(s, [s], 3, LOOK_AHEAD)
    v = Verdict(4, "its trial", False, T, a, answer_defaults(s, None, 3, LOOK_AHEAD, winner_beats=False), "method")
    data = json.loads(json.dumps(v.to_json(), allow_nan=False))
    assert data["version"] == VERSION and data["winner"] == 4
    assert data["baselines"]["outcome"] == a.outcome and data["baselines"]["bar_z"] == pytest.approx(a.bar_z)
    assert data["defaults"]["outcome"] == NO_DEFAULTS and data["defaults"]["z"] is None
    assert any("(b) vs the defaults: NO DEFAULTS ARM" in line for line in v.lines())
