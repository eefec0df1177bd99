"""The time split: no training target overlaps a val/test input window, checked over ALL windows."""
from __future__ import annotations

import numpy as np
import pytest
from _market import random_walk_panel

from common.errors import InputError
from data_prep.config import PrepConfig
from data_prep.features import WARMUP
from data_prep.split import split_windows
from data_prep.synthetic import generate
from data_prep.windows import window_ends


def spans(panel, ends, lo_off, hi_off):
    """(first date, last date) of rows ends+lo_off .. ends+hi_off, as int days."""
    d = panel.date.astype(np.int64)
    return d[ends + lo_off], d[ends + hi_off]


def any_overlap(a: tuple[np.ndarray, np.ndarray], b: tuple[np.ndarray, np.ndarray]) -> bool:
    """Does any interval of a intersect any interval of b? Exact all-pairs test in O(n log n)."""
    a_lo, a_hi = a
    b_lo, b_hi = b
    order = np.argsort(a_lo)
    a_lo, a_hi = a_lo[order], np.maximum.accumulate(a_hi[order])
    # for each b: the a intervals starting at or before b_hi; overlap iff the largest end among them >= b_lo
    k = np.searchsorted(a_lo, b_hi, side="right")
    has = k > 0
    return bool(np.any(a_hi[k[has] - 1] >= b_lo[has]))


def gap_between(panel, last_day: int, first_day: int) -> int:
    cal = np.unique(panel.date).astype(np.int64)
    return int(np.sum((cal > last_day) & (cal < first_day)))


@pytest.mark.parametrize("cfg", [
    PrepConfig(look_back=30, look_ahead=5),
    PrepConfig(look_back=10, look_ahead=20, purge_gap=25, embargo=3, train_frac=0.5, val_frac=0.25),
    PrepConfig(look_back=60, look_ahead=1, train_end="2010-06-30", val_end="2011-01-31"),
])
def test_no_training_target_overlaps_a_later_input_window(cfg):
    panel, _ = generate(40, 900, seed=7)  # ragged listings, halts, missing days
    ends = window_ends(panel, cfg.look_back, cfg.look_ahead, WARMUP, cfg.max_halt_days)
    plan = split_windows(panel, ends, cfg)
    L, H = cfg.look_back, cfg.look_ahead
    target = {s: spans(panel, e, 1, H) for s, e in plan.ends.items()}
    inputs = {s: spans(panel, e, -L + 1, 0) for s, e in plan.ends.items()}
    for early, late in (("train", "val"), ("train", "test"), ("val", "test")):
        assert len(plan.ends[early]) and len(plan.ends[late])
        assert not any_overlap(target[early], inputs[late]), (early, late)
        # and the purge gap: at least gap_days trading days between the two splits' samples
        assert gap_between(panel, target[early][1].max(), inputs[late][0].min()) >= cfg.gap_days
    # every candidate window is in at most one split, dates ordered
    allends = np.concatenate(list(plan.ends.values()))
    assert len(np.unique(allends)) == len(allends)
    if cfg.train_end:
        assert panel.date[plan.ends["train"] + H].max() <= np.datetime64(cfg.train_end)
        assert panel.date[plan.ends["val"] + H].max() <= np.datetime64(cfg.val_end)
        assert panel.date[plan.ends["val"] - L + 1].min() > np.datetime64(cfg.train_end)


def test_missing_days_cannot_slip_a_target_across():
    """A ticker with a hole in its dates: its target span is long in calendar days; the rule uses row dates."""
    p = random_walk_panel(tickers=3, days=600, seed=4, ragged=False)
    keep = np.ones(len(p), bool)
    b = int(p.starts[1])
    keep[b + 400: b + 440] = False  # ticker 1 misses 40 days around the train/val boundary
    q = p.take(keep)
    cfg = PrepConfig(look_back=20, look_ahead=5, train_frac=0.7, val_frac=0.15)
    plan = split_windows(q, window_ends(q, 20, 5, WARMUP, 5), cfg)
    assert not any_overlap(spans(q, plan.ends["train"], 1, 5), spans(q, plan.ends["val"], -19, 0))


def test_too_short_data_is_an_input_error():
    p = random_walk_panel(tickers=2, days=200, seed=0, ragged=False)
    cfg = PrepConfig(look_back=30)
    with pytest.raises(InputError, match="split has no windows"):
        split_windows(p, window_ends(p, 30, 5, WARMUP, 5), cfg, "studies/x.toml, [data]")
