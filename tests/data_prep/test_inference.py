"""Prediction windows (data_prep/inference.py): the training windows' rule without the target."""
from __future__ import annotations

import numpy as np
import pytest

from common.errors import InputError
from data_prep.dataset import PreparedDataset, SplitArrays
from data_prep.inference import PREDICTABLE, prediction_rows
from data_prep.panel import Panel
from data_prep.windows import window_ends


def _panel(lengths: dict[str, int], halted: dict[str, list[int]] | None = None,
           late: dict[str, int] | None = None) -> Panel:
    """Daily rows from 2021-01-01 (``late``: days after that a ticker starts); ``halted``: zero-volume rows."""
    names = list(lengths)
    ticker = np.repeat(np.arange(len(names), dtype=np.int32), list(lengths.values()))
    date = np.concatenate([np.datetime64("2021-01-01") + (late or {}).get(k, 0) + np.arange(n)
                           for k, n in lengths.items()]).astype("datetime64[D]")
    volume = np.ones(ticker.size)
    offset = np.cumsum([0, *lengths.values()])
    for k, name in enumerate(names):
        for i in (halted or {}).get(name, []):
            volume[offset[k] + i] = 0.0
    one = np.ones(ticker.size)
    return Panel(names, ticker, date, one, one, one, one, volume)


def _dataset(panel: Panel, look_back: int, warmup: int, max_halt: int) -> PreparedDataset:
    ends = window_ends(panel, look_back, 1, warmup, max_halt, require_target=False)
    nan = np.full(ends.shape, np.nan, np.float32)
    meta = {"look_back": look_back, "look_ahead": 1, "warmup": warmup, "tickers": panel.tickers,
            "prep": {"look_back": look_back, "look_ahead": 1, "max_halt_days": max_halt}, "source": "test"}
    return PreparedDataset.from_arrays(np.zeros((len(panel), 2)), panel.ticker, panel.date,
                                       {PREDICTABLE: SplitArrays(ends, nan, nan)}, meta)


def test_prediction_windows_need_no_target_but_the_same_input_rules():
    p = _panel({"A": 12, "B": 6, "C": 12}, halted={"C": [6, 7, 8]})
    with_target = window_ends(p, 4, 1, 3, 2)
    without = window_ends(p, 4, 1, 3, 2, require_target=False)
    assert 11 in without and 11 not in with_target  # the last row of A: its target is in the future
    assert set(with_target) <= set(without)
    # C's halt of 3 zero-volume days (> max_halt 2) breaks every window that holds one of its rows
    c = without[(without >= 18)] - 18
    assert not any(lo <= h <= lo + 3 for lo in c - 3 for h in (6, 7, 8))


def test_prediction_rows_name_why_each_ticker_is_skipped():
    p = _panel({"A": 12, "B": 6, "C": 12, "D": 3}, halted={"C": [9, 10, 11]}, late={"B": 6})
    ds = _dataset(p, look_back=4, warmup=3, max_halt=2)
    rows, skipped = prediction_rows(ds, np.datetime64("2021-01-12"))
    assert rows.tolist() == [11]  # A only
    reasons = {s["ticker"]: s["reason"] for s in skipped}
    assert "too short" in reasons["B"]  # 6 rows < warm-up 3 + look-back 4
    assert "halt" in reasons["C"]
    assert "no data on 2021-01-12" in reasons["D"] and "2021-01-03" in reasons["D"]  # where D's data ends
    rows, skipped = prediction_rows(ds, np.datetime64("2021-01-07"))
    assert rows.tolist() == [6, 18 + 6]  # row 6 of A and C: exactly warm-up + look_back - 1
    assert [s["ticker"] for s in skipped] == ["B", "D"] and "too short" in skipped[0]["reason"]


def test_a_day_without_any_window_is_an_input_error():
    ds = _dataset(_panel({"A": 12}), look_back=4, warmup=3, max_halt=2)
    with pytest.raises(InputError, match="2021-01-02 .* pick a later --date"):
        prediction_rows(ds, np.datetime64("2021-01-02"))
    with pytest.raises(InputError, match="has no data"):
        prediction_rows(ds, np.datetime64("2020-01-02"))
