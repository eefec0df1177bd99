"""Report: KS statistic/p-value against known values, report files and fields."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest

from data_prep.dataset_report import DatasetReport
from data_prep.report import PLOTS, per_ticker_volatility, write_report
from data_prep.stats import kolmogorov_sf, ks_uniform


@pytest.mark.parametrize("x, sf", [(0.5, 0.9639452436648751), (1.0, 0.26999967167735456),
                                   (1.36, 0.04948), (2.0, 0.0006709252557796953)])
def test_kolmogorov_survival_function(x, sf):
    assert kolmogorov_sf(x) == pytest.approx(sf, rel=1e-3)


def test_ks_uniform():
    rng = np.random.default_rng(0)
    d, p = ks_uniform(rng.uniform(size=20000))
    assert d < 0.015 and p > 0.01
    d, p = ks_uniform(rng.uniform(size=20000) ** 1.2)
    assert d > 0.03 and p < 1e-6
    # exact value for a tiny sample: x = [0.5] -> D = 0.5
    assert ks_uniform(np.array([0.5]))[0] == pytest.approx(0.5)
    assert math.isnan(ks_uniform(np.array([]))[0])


def test_per_ticker_volatility():
    r = np.array([np.nan, 0.01, -0.01, 0.01, -0.01, 0.0, 0.0, 0.0])
    t = np.array([0, 0, 0, 0, 0, 1, 1, 1])
    v = per_ticker_volatility(r, t, np.arange(8), 2)
    assert v == pytest.approx([0.01 * math.sqrt(252), 0.0])


def test_write_report(tmp_path):
    rng = np.random.default_rng(1)
    split = {"start": "2010-01-01", "end": "2011-01-01", "n_windows": 100, "n_tickers": 3, "target_ks_stat": 0.01,
             "target_ks_p": 0.9, "rise_rate": 0.5, "volatility_median": 0.2}
    report = {"source": "x", "n_rows": 10, "n_tickers": 3, "features": ["a"], "look_back": 5, "look_ahead": 1,
              "target_method": "ecdf", "purge_gap_days": 1, "cache_key": "k",
              "splits": {s: split for s in ("train", "val", "test")},
              "adjustments": [{"ticker": "A", "ratio": 2}], "repairs": [], "skipped": []}
    targets = {s: rng.uniform(size=100) for s in ("train", "val", "test")}
    write_report(tmp_path, DatasetReport.from_json(report), targets, {s: rng.uniform(size=3) for s in targets})
    assert json.loads((tmp_path / "report.json").read_text())["splits"]["val"]["target_ks_p"] == 0.9
    md = (tmp_path / "report.md").read_text()
    assert "| val |" in md and "reserved for the final evaluation" in md and '"ratio": 2' in md
    for name in PLOTS:
        assert (tmp_path / name).read_bytes()[:4] == b"\x89PNG"
