"""The lr schedule on its own: warmup, cosine decay, floor."""
from __future__ import annotations

import math

import pytest

from model.schedule import lr_at

LR, TOTAL = 1e-3, 100


def lr(step, warmup=0.1, floor=0.1):
    return lr_at(step, TOTAL, LR, warmup, floor)


def test_warmup_rises_linearly_from_above_zero_to_the_peak():
    values = [lr(s) for s in range(10)]  # warmup = 10 steps
    assert values[0] == pytest.approx(LR / 11) and values[0] > 0
    diffs = [b - a for a, b in zip(values, values[1:])]
    assert all(d == pytest.approx(LR / 11) for d in diffs)
    assert values[-1] < LR


def test_cosine_starts_at_the_peak_halves_midway_and_ends_near_the_floor():
    assert lr(10) == pytest.approx(LR)
    assert lr(55) == pytest.approx(1e-4 + 0.5 * (LR - 1e-4))
    assert lr(99) == pytest.approx(1e-4 + 0.5 * (1 + math.cos(math.pi * 89 / 90)) * (LR - 1e-4))
    decay = [lr(s) for s in range(10, 100)]
    assert all(a > b for a, b in zip(decay, decay[1:]))


def test_floor_after_the_last_step():
    assert lr(100) == pytest.approx(1e-4)
    assert lr(10_000) == pytest.approx(1e-4)


def test_no_warmup_and_no_floor():
    assert lr_at(0, TOTAL, LR, 0.0, 0.0) == pytest.approx(LR)
    assert lr_at(100, TOTAL, LR, 0.0, 0.0) == 0.0
