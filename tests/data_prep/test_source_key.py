"""The cache is looked up before the source is read: source_key matches load_source and a hit loads nothing."""
from __future__ import annotations

import numpy as np
import pytest

import data_prep.pipeline as pipeline
import data_prep.sources as sources
from common.errors import InputError
from data_prep import PrepConfig, prepare
from data_prep.sources import load_source, source_key
from data_prep.synthetic import write_market

SOURCE = "synthetic:tickers=30,days=700,seed=4"
CFG = PrepConfig(look_back=20, look_ahead=5)


@pytest.mark.parametrize("kind", ["synthetic", "sample", "dir", "file"])
def test_source_key_equals_the_loaded_content_key(kind, tmp_path):
    if kind == "synthetic":
        src = "synthetic: seed=1, days=90, tickers=7"
    elif kind == "sample":
        src = "sample"
    elif kind == "dir":
        write_market(tmp_path / "d", tickers=3, days=60, seed=0)
        src = str(tmp_path / "d")
    else:
        src = str(tmp_path / "long.csv")
        (tmp_path / "long.csv").write_text("Ticker,Date,Open,High,Low,Close,Volume\n"
                                           "A,2020-01-02,10,11,9,10.5,100\nA,2020-01-03,10.5,11,10,10.8,120\n")
    assert source_key(src) == load_source(src).content_key


def test_source_key_errors_like_load_source(tmp_path):
    with pytest.raises(InputError, match="not found"):
        source_key(str(tmp_path / "missing"))
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(InputError, match="no .csv or .parquet"):
        source_key(str(tmp_path))


def test_cache_hit_neither_loads_nor_generates(tmp_path, monkeypatch):
    first = prepare(SOURCE, CFG, tmp_path)
    assert not first.cached

    def fail(*a, **k):
        raise AssertionError("the source was loaded on a cache hit")

    monkeypatch.setattr(sources, "generate", fail)
    monkeypatch.setattr(sources, "load_source", fail)
    monkeypatch.setattr(pipeline, "compute_features", fail)
    again = prepare(SOURCE, CFG, tmp_path)
    assert again.cached and again.path == first.path and again.report == first.report
    np.testing.assert_array_equal(again.dataset().features, first.dataset().features)
