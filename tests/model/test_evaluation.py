"""Test-period evaluation: calibration table, IC standard error, shuffled-label control, leak flag.

The datasets are built in memory (``PreparedDataset.from_arrays``) with a planted, learnable
signal, so the expected outcome is known: the real model finds skill, the shuffled-label control
and a model of a pure-noise market find none.
"""
from __future__ import annotations

import json

import numpy as np
import pytest

from data_prep.dataset import PreparedDataset, SplitArrays
from model.calibration import calibration_table
from model.config import TrainConfig
from model.evaluation import evaluate_split, ic_standard_error, leak_check, score_predictions, shuffle_training_labels


# ---------------------------------------------------------------- an in-memory market with a planted signal
def make_market(signal: float, n_tickers: int = 24, n_days: int = 420, look_back: int = 8, look_ahead: int = 1,
                seed: int = 0) -> PreparedDataset:
    """Features are noise except feature 0, which predicts the next return with strength ``signal``.

    The target is the cross-sectional rank of the forward return (like data_prep's cs_rank), the
    dates are split 60/20/20 by time with a gap of ``look_ahead`` days between splits.
    """
    rng = np.random.default_rng(seed)
    n_feat = 4
    feats = rng.standard_normal((n_tickers, n_days, n_feat)).astype(np.float32) * 0.5
    # forward return of the window ending on day t depends on feature 0 of day t
    ret = signal * feats[:, :, 0] + rng.standard_normal((n_tickers, n_days)) * 0.5
    ret[:, -look_ahead:] = np.nan
    order = np.argsort(np.argsort(np.where(np.isnan(ret), np.inf, ret), axis=0), axis=0)
    target = ((order + 0.5) / n_tickers).astype(np.float32)
    days = np.datetime64("2020-01-01") + np.arange(n_days)
    features = np.clip(feats, -1, 1).reshape(-1, n_feat)
    ticker = np.repeat(np.arange(n_tickers, dtype=np.int32), n_days)
    date = np.tile(days, n_tickers)
    usable = np.arange(look_back - 1, n_days - look_ahead)
    cut1, cut2 = int(n_days * 0.6), int(n_days * 0.8)
    ranges = {"train": usable[usable < cut1 - look_ahead],
              "val": usable[(usable >= cut1) & (usable < cut2 - look_ahead)],
              "test": usable[usable >= cut2]}
    splits = {}
    for name, t in ranges.items():
        end = (np.arange(n_tickers)[:, None] * n_days + t[None, :]).ravel()  # sorted by (ticker, date)
        end = end[np.argsort(date[end], kind="stable")]
        splits[name] = SplitArrays(end.astype(np.int64), target.ravel()[end], ret.ravel()[end].astype(np.float32))
    meta = {"look_back": look_back, "look_ahead": look_ahead, "tickers": [f"T{i:02d}" for i in range(n_tickers)],
            "source": f"memory:signal={signal}", "cache_key": f"mem{seed}", "target_method": "cs_rank"}
    return PreparedDataset.from_arrays(features, ticker, date, splits, meta)


TINY = dict(hidden_dim=16, num_layers=1, epochs=4, samples_per_epoch=3000, batch_size=128, learning_rate=3e-3,
            warmup_ratio=0.0, eval_split=None, train_splits=("train", "val"), device="cpu", threads=1, seed=0)


# ---------------------------------------------------------------- calibration table
def test_calibration_bins_are_equal_count_and_rise_rate_is_the_fraction_of_positive_returns():
    pred = np.linspace(0.0, 1.0, 100)
    ret = np.where(np.arange(100) >= 50, 0.01, -0.01)  # the upper half rises
    table = calibration_table(pred, pred, ret, n_bins=10)
    assert [row.n for row in table] == [10] * 10
    assert [row.rise_rate for row in table] == [0.0] * 5 + [1.0] * 5
    assert table[0].pred_max < table[1].pred_min
    assert table[9].target_mean == pytest.approx(pred[90:].mean())


def test_calibration_of_a_constant_prediction_still_fills_every_bin():
    table = calibration_table(np.full(55, 0.5), np.linspace(0, 1, 55), np.ones(55), n_bins=5)
    assert [row.n for row in table] == [11] * 5


def test_calibration_ignores_missing_returns():
    table = calibration_table(np.array([0.1, 0.2]), np.array([0.1, 0.2]), np.array([np.nan, 1.0]), n_bins=1)
    assert table[0].rise_rate == 1.0 and table[0].n == 2


# ---------------------------------------------------------------- IC standard error
def test_ic_standard_error_matches_the_spread_of_means_for_overlapping_returns():
    # per-date ICs of overlapping 5-day returns are an MA(4) process: the naive SE is too small,
    # the SE with lag look_ahead-1 should match the real spread of the mean
    rng = np.random.default_rng(1)
    e = rng.standard_normal((600, 404))
    ic = sum(e[:, k:k + 400] for k in range(5)) * 0.02  # [series, dates]
    true_sd = ic.mean(axis=1).std()
    nw = np.median([ic_standard_error(s, lag=4) for s in ic])
    naive = np.median([ic_standard_error(s, lag=0) for s in ic])
    assert nw == pytest.approx(true_sd, rel=0.1)
    assert naive < 0.6 * true_sd


def test_ic_standard_error_needs_two_dates():
    assert np.isnan(ic_standard_error(np.array([0.3])))
    assert np.isnan(ic_standard_error(np.array([0.3, np.nan])))


# ---------------------------------------------------------------- control and leak flag
def test_shuffle_permutes_only_the_training_labels():
    ds = make_market(signal=1.0)
    sh = shuffle_training_labels(ds, ("train", "val"), seed=3)
    for s in ("train", "val"):
        assert np.array_equal(sh.split(s).end_idx, ds.split(s).end_idx)  # same windows, same inputs
        assert not np.array_equal(sh.split(s).target, ds.split(s).target)
        assert np.array_equal(np.sort(sh.split(s).target), np.sort(ds.split(s).target))
        # the return moves with its label so that the pair stays consistent
        i = np.argsort(sh.split(s).target, kind="stable")
        j = np.argsort(ds.split(s).target, kind="stable")
        assert np.corrcoef(sh.split(s).ret[i], ds.split(s).ret[j])[0, 1] > 0.3
    assert sh.split("test") is ds.split("test")
    assert sh.features is ds.features


@pytest.mark.parametrize("ic,se,runs,flag", [
    (0.01, 0.01, [], False), (-0.02, 0.01, [], False), (0.05, 0.01, [], True), (-0.05, 0.01, [], True),
    (float("nan"), 0.01, [], False),
    (0.05, 0.01, [0.12, -0.02, 0.05], False),  # controls disagree: a random-function IC, not a leak
    (0.05, 0.01, [0.05, 0.051, 0.049], True),  # the same IC whatever the seed: a leak
])
def test_leak_flag_is_raised_beyond_three_standard_errors(ic, se, runs, flag):
    out = leak_check(ic, se, runs)
    assert out.leak_flag is flag
    assert ("leak" in out.leak_note) and json.dumps(out.to_json())


# ---------------------------------------------------------------- scores
def test_perfect_and_uninformative_predictions():
    ds = make_market(signal=1.0)
    test = ds.split("test")
    dates = ds.window_dates("test")
    perfect = score_predictions(test.target, test.target, test.ret, dates, train_mean=0.5, look_ahead=1).metrics
    assert perfect.ic == pytest.approx(1.0)
    assert perfect.mae == pytest.approx(0.0, abs=1e-6)
    assert perfect.skill_half == pytest.approx(1.0) and perfect.dir_acc == pytest.approx(1.0)
    assert perfect.calibration[-1].rise_rate > perfect.calibration[0].rise_rate
    half = score_predictions(np.full(len(test), 0.5), test.target, test.ret, dates, train_mean=0.5).metrics
    assert half.skill_half == pytest.approx(0.0, abs=1e-9)
    assert half.mae == pytest.approx(half.baseline_mae_half)
    as_json = perfect.to_json()  # evaluation.json's keys, unchanged by the typed result
    assert list(as_json)[:3] == ["n_windows", "n_dates", "n_ic_dates"] and list(as_json)[-1] == "calibration"
    assert as_json["calibration"][0]["bin"] == 1
    json.dumps(as_json)  # evaluation.json must be able to hold it


# ---------------------------------------------------------------- on data_prep's synthetic market
# A mean-reverting market (signal=2: each day's return includes -0.2 x the past week's return) and a
# pure GARCH random walk (signal=0), prepared by the real pipeline; 40 tickers x 900 days.
REAL = dict(hidden_dim=16, num_layers=1, epochs=6, samples_per_epoch=8000, batch_size=256, learning_rate=3e-3,
            train_splits=("train", "val"), eval_split=None, device="cpu", threads=1, seed=0)
CONTROL_SEEDS = (12345, 12346, 12347)


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    from data_prep import prepare
    from data_prep.config import PrepConfig

    cache = tmp_path_factory.mktemp("cache")

    def get(signal: float):
        res = prepare(f"synthetic:tickers=40,days=900,seed=1,signal={signal}",
                      PrepConfig(look_back=20, look_ahead=5), cache)
        return res.dataset()
    return get


def _evaluate(ds, n_controls: int):
    import model
    from model.evaluation import train_control

    cfg = TrainConfig(**REAL)
    net = model.fit(ds, cfg).model
    seeds = CONTROL_SEEDS[:n_controls]
    controls = [train_control(ds, cfg, seed=s) for s in seeds]
    return evaluate_split(net, ds, cfg, "test", control_nets=controls, control_seeds=seeds, device="cpu")


def test_planted_signal_shows_skill_and_the_shuffled_controls_show_none(synthetic):
    ev = _evaluate(synthetic(2.0), n_controls=3)
    m, c = ev.model, ev.control
    assert m.ic > 0.2 and m.ic_t > 5, m
    assert m.skill_half > 0.02 and m.skill_mean > 0.02
    assert m.calibration[-1].rise_rate > m.calibration[0].rise_rate + 0.1
    assert c.n_controls == 3 and [r.seed for r in c.runs] == list(CONTROL_SEEDS)
    assert abs(c.metrics.ic) < 0.1 and c.leak.leak_flag is False, c
    assert c.metrics.skill_half < 0.01 < m.skill_half


def test_random_walk_shows_no_skill(synthetic):
    ev = _evaluate(synthetic(0.0), n_controls=0)
    m = ev.model
    assert abs(m.ic) < 3 * m.ic_se and abs(m.ic) < 0.06, m
    assert m.skill_half < 0.01
    assert ev.control is None and "control" not in ev.to_json()


def test_labels_reaching_the_controls_are_flagged():
    # y-randomization: if the labels reached the "controls" by a path the shuffle does not cut
    # (simulated: they train on the real labels), their IC is consistent across seeds -> flagged.
    import model

    ds = make_market(signal=1.0)
    cfg = TrainConfig(**TINY)
    nets = [model.fit(ds, TrainConfig(**{**TINY, "seed": s})).model for s in (1, 2, 3)]
    ev = evaluate_split(nets[0], ds, cfg, "test", control_nets=nets, control_seeds=(1, 2, 3), device="cpu")
    c = ev.control
    assert c.metrics.ic > 0.3 and c.leak.leak_flag is True and "leak" in c.leak.leak_note, c
    # the JSON keeps the control's metrics, runs and leak test side by side, as before the typed result
    as_json = ev.to_json()["control"]
    assert as_json["n_controls"] == 3 and as_json["leak_flag"] is True and as_json["runs"][0]["seed"] == 1
    # a single control is judged by its date standard error alone
    one = evaluate_split(nets[0], ds, cfg, "test", control_nets=nets[:1], device="cpu").control
    assert one.leak.leak_se == pytest.approx(one.metrics.ic_se) and one.leak.leak_flag is True


def test_plots_are_written(tmp_path):
    from model.plots import PLOT_FILES, write_evaluation_plots

    ds = make_market(signal=1.0)
    test = ds.split("test")
    ev = score_predictions(test.target * 0.5 + 0.25, test.target, test.ret, ds.window_dates("test"), 0.5)
    files = write_evaluation_plots(tmp_path, {"model": ev.metrics}, {"model": ev.arrays})
    assert files == PLOT_FILES
    for name in files.values():
        assert (tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_per_date_ic_series_averages_to_the_validation_metric():
    from model.evaluation import per_date_ic
    from model.metrics import rank_ic

    rng = np.random.default_rng(5)
    dates = np.repeat(np.datetime64("2021-01-01") + np.arange(30), 7)[:-2]  # last date has 5 windows
    target = rng.random(dates.size)
    pred = target + rng.normal(0, 0.3, dates.size)
    pred[:7] = 0.5  # a constant prediction on the first date counts as IC 0
    d, ic = per_date_ic(pred, target, dates)
    mean, icir, n = rank_ic(pred, target, dates)
    assert d.size == n == 30 and ic[0] == 0.0
    assert ic.mean() == pytest.approx(mean, abs=1e-12)
    assert ic.mean() / ic.std(ddof=1) == pytest.approx(icir, rel=1e-9)
