"""Walk-forward folds: no training target of a fold comes within the purge gap of its validation
inputs, checked over ALL windows of ALL folds; the test period is never used; K = 1 is the prepared split."""
from __future__ import annotations

import re

import numpy as np
import pytest

from common.errors import InputError
from data_prep.config import PrepConfig
from data_prep.folds import FoldConfig, plan_folds
from data_prep.pipeline import prepare

SOURCE = "synthetic:tickers=30,days=1400,seed=11"


@pytest.fixture(scope="module", params=[PrepConfig(look_back=30, look_ahead=5),
                                        PrepConfig(look_back=10, look_ahead=20, purge_gap=25, embargo=3)],
                ids=["plain", "embargo"])
def dataset(request, tmp_path_factory):
    return prepare(SOURCE, request.param, tmp_path_factory.mktemp("folds")).dataset()


def _days(ds, rows):
    calendar = np.unique(np.asarray(ds.date, "datetime64[D]"))
    return calendar, np.searchsorted(calendar, np.asarray(ds.date[rows], "datetime64[D]"))


@pytest.mark.parametrize("cfg", [FoldConfig(folds=3), FoldConfig(folds=3, scheme="rolling"),
                                 FoldConfig(folds=4, fold_days=120), FoldConfig(folds=2, scheme="rolling", train_days=300)],
                         ids=["expanding", "rolling", "short-blocks", "rolling-fixed"])
def test_every_fold_is_purged_and_never_touches_the_test_period(dataset, cfg):
    plan = plan_folds(dataset, cfg)
    ds, L, H, gap = dataset, dataset.look_back, dataset.look_ahead, dataset.gap_days
    calendar, _ = _days(ds, np.zeros(0, np.int64))
    test_first = np.searchsorted(calendar, np.asarray(ds.date[ds.split("test").end_idx - L + 1], "datetime64[D]")).min()
    assert len(plan) == cfg.folds
    for f in plan.folds:
        sub = plan.dataset(ds, f.number)
        tr, va = sub.split("train").end_idx, sub.split("val").end_idx
        assert tr.size and va.size
        _, train_last = _days(ds, tr + H)  # every target day of every training window
        _, val_first = _days(ds, va - L + 1)  # every input day of every validation window
        _, val_last = _days(ds, va + H)
        # between the last training target and the first validation input: at least gap trading days
        assert val_first.min() - train_last.max() - 1 >= gap, f.number
        assert val_last.max() < test_first  # validation never reaches the test period (nor does training)
        assert str(calendar[val_first.min()]) >= f.val_period[0] and str(calendar[val_last.max()]) <= f.val_period[1]
        if cfg.scheme == "rolling":
            _, train_first = _days(ds, tr - L + 1)
            assert str(calendar[train_first.min()]) >= f.train_period[0]
        assert sub.features is ds.features  # the one memory map, no copy
    vals = [plan.dataset(ds, f.number).split("val").end_idx for f in plan.folds]
    assert all(np.intersect1d(a, b).size == 0 for i, a in enumerate(vals) for b in vals[i + 1:])


def test_one_fold_is_the_prepared_split(dataset):
    plan = plan_folds(dataset, FoldConfig(folds=1))
    sub = plan.dataset(dataset, 1)
    for split in ("train", "val"):
        np.testing.assert_array_equal(np.sort(sub.split(split).end_idx), np.sort(dataset.split(split).end_idx))
        np.testing.assert_array_equal(np.sort(sub.split(split).target), np.sort(dataset.split(split).target))


def test_the_last_fold_validates_on_the_prepared_validation_period(dataset):
    plan = plan_folds(dataset, FoldConfig(folds=3))
    np.testing.assert_array_equal(np.sort(plan.dataset(dataset, 3).split("val").end_idx),
                                  np.sort(dataset.split("val").end_idx))
    assert plan.folds[0].val_period[1] < plan.folds[1].val_period[0] < plan.folds[2].val_period[0]


def test_too_many_folds_name_the_key_and_the_largest_that_fits(dataset):
    largest = len(plan_folds(dataset, FoldConfig(folds="auto", fold_days=200)))
    with pytest.raises(InputError, match=r"folds = 99 does not fit .* largest number of folds that fits is") as e:
        plan_folds(dataset, FoldConfig(folds=99), "study.toml, [validation]")
    assert "study.toml, [validation]" in str(e.value)
    k = int(re.search(r"fits is (\d+)", str(e.value)).group(1))
    assert len(plan_folds(dataset, FoldConfig(folds=k))) == k and largest >= 1
    with pytest.raises(InputError):
        plan_folds(dataset, FoldConfig(folds=k + 1))


@pytest.mark.parametrize("bad", [{"folds": 0}, {"scheme": "random"}, {"fold_days": 0}, {"folds": "many"}])
def test_bad_settings_are_input_errors(bad):
    with pytest.raises(InputError):
        FoldConfig(**bad)
