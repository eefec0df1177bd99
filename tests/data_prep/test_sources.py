"""Loaders: every source kind yields the same raw panel, with provenance and a content key."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from common.errors import InputError
from data_prep.sources import load_events, load_source, parse_synthetic_spec
from data_prep.synthetic import generate


@pytest.fixture(scope="module")
def small():
    """A 5-ticker market as a long DataFrame (Yahoo-style columns), and its panel."""
    panel, _ = generate(5, 80, seed=2)
    df = pd.DataFrame({"Ticker": np.array(panel.tickers)[panel.ticker],
                       "Date": pd.to_datetime(panel.date).strftime("%Y-%m-%d"),
                       "Open": panel.open, "High": panel.high, "Low": panel.low, "Close": panel.close,
                       "Volume": panel.volume.astype(np.int64)})
    return df, panel


def _same_rows(raw_panel, panel) -> None:
    order = np.lexsort((raw_panel.date, raw_panel.ticker))
    assert raw_panel.tickers == panel.tickers
    assert np.array_equal(raw_panel.date[order], panel.date)
    for col in ("open", "high", "low", "close", "volume"):
        assert np.allclose(getattr(raw_panel, col)[order], getattr(panel, col)), col


def test_dir_of_csv(tmp_path, small):
    df, panel = small
    for t, g in df.groupby("Ticker"):
        g.drop(columns="Ticker").to_csv(tmp_path / f"{t}.csv", index=False)
    (tmp_path / "README.txt").write_text("not data")  # other files in the folder are noted, not read
    raw = load_source(str(tmp_path))
    assert raw.kind == "dir" and raw.events is None
    assert raw.notes == [{"entry": "README.txt", "reason": "not a data file (prep reads .csv, .csv.gz, .parquet, .pq)"}]
    _same_rows(raw.panel, panel)
    # provenance: row 1 of 000003.csv is line 2 of that file
    i = int(np.flatnonzero((raw.panel.ticker == 3) & (raw.panel.row == 1))[0])
    assert raw.panel.files[raw.panel.file_id[i]].endswith("000003.csv")


def test_dir_of_parquet(tmp_path, small):
    df, panel = small
    for t, g in df.groupby("Ticker"):
        g.drop(columns="Ticker").to_parquet(tmp_path / f"{t}.parquet", index=False)
    raw = load_source(str(tmp_path))
    _same_rows(raw.panel, panel)


def test_one_long_csv_keeps_leading_zeros(tmp_path, small):
    df, panel = small
    path = tmp_path / "all.csv"
    df.sample(frac=1.0, random_state=0).to_csv(path, index=False)  # shuffled: validate sorts later
    raw = load_source(str(path))
    assert raw.kind == "file" and raw.panel.tickers == ["000000", "000001", "000002", "000003", "000004"]
    _same_rows(raw.panel, panel)


def test_one_long_parquet(tmp_path, small):
    df, panel = small
    path = tmp_path / "all.parquet"
    df.to_parquet(path, index=False)
    _same_rows(load_source(str(path)).panel, panel)


def test_case_insensitive_aliases_and_adj_close(tmp_path):
    path = tmp_path / "prices.csv"
    path.write_text("SYMBOL,DATE,open,HIGH,Low,close,Vol,Adj_Close\n"
                    "abc,2020-01-02,10,11,9,10.5,100,5.25\n"
                    "abc,2020-01-03,10.5,12,10,11,120,5.5\n")
    raw = load_source(str(path))
    assert raw.panel.tickers == ["abc"]
    assert np.allclose(raw.panel.extra["adj_close"], [5.25, 5.5])
    assert np.allclose(raw.panel.volume, [100, 120])


@pytest.mark.parametrize("header,date", [
    ("Code,trade_date,Open,High,Low,Close,Volume,adjustment factor", "20200102"),
    ("ticker,Date,o,h,l,c,v,adjfactor", "2020/01/02"),
])
def test_other_aliases_and_date_formats(tmp_path, header, date):
    path = tmp_path / "p.csv"
    path.write_text(f"{header}\nX,{date},10,11,9,10.5,100,1.0\n")
    raw = load_source(str(path))
    assert raw.panel.date[0] == np.datetime64("2020-01-02")
    assert "adj_factor" in raw.panel.extra


def test_sample_has_five_tickers_with_adj_close():
    raw = load_source("sample")
    assert raw.kind == "sample"
    assert raw.panel.tickers == ["AAPL", "FB", "GOOG", "IBM", "MSFT"]
    assert "adj_close" in raw.panel.extra and len(raw.panel) > 10_000
    assert raw.panel.date.min() >= np.datetime64("2000-01-01") and raw.panel.date.max() < np.datetime64("2014-01-01")
    assert raw.content_key == load_source("sample").content_key


def test_synthetic_spec_and_key():
    raw = load_source("synthetic:tickers=7,days=90,seed=1")
    assert raw.kind == "synthetic" and len(raw.panel.tickers) == 7 and raw.events is not None
    assert raw.content_key == load_source("synthetic: seed=1, days=90, tickers=7").content_key
    assert raw.content_key != load_source("synthetic:tickers=7,days=90,seed=2").content_key
    assert raw.content_key != load_source("synthetic:tickers=7,days=90,seed=1,signal=1").content_key
    assert parse_synthetic_spec("synthetic:tickers=3")["days"] == 1000  # defaults


def test_content_key_follows_file_bytes(tmp_path, small):
    df, _ = small
    d = tmp_path / "d"
    d.mkdir()
    for t, g in df.groupby("Ticker"):
        g.drop(columns="Ticker").to_csv(d / f"{t}.csv", index=False)
    key = load_source(str(d)).content_key
    assert load_source(str(d)).content_key == key
    f = d / "000001.csv"
    f.write_text(f.read_text().replace("\n", "\n", 1) + "")  # same bytes
    assert load_source(str(d)).content_key == key
    text = f.read_text().splitlines()
    f.write_text("\n".join(text[:-1]) + "\n")  # one row fewer
    assert load_source(str(d)).content_key != key


@pytest.mark.parametrize("source,needle", [
    ("no/such/place", "not found"),
    ("synthetic:tickers=abc", "tickers must be int"),
    ("synthetic:tickers=5,color=red", "unknown part 'color=red'"),
    ("synthetic:tickers=0", "need tickers >= 1"),
])
def test_bad_sources(source, needle):
    with pytest.raises(InputError, match=needle):
        load_source(source)


def test_empty_dir_and_unsupported_file(tmp_path):
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(InputError, match=r"no \.csv or \.parquet files.*notes\.txt"):
        load_source(str(tmp_path))
    with pytest.raises(InputError, match="unsupported file type '.txt'"):
        load_source(str(tmp_path / "notes.txt"))


def test_load_events(tmp_path):
    path = tmp_path / "ev.csv"
    path.write_text("Symbol,Date,Ratio\nAAA,2020-03-02,2\nBBB,2021-01-04,0.1\n")
    ev = load_events(path)
    assert list(ev["ticker"]) == ["AAA", "BBB"] and np.allclose(ev["ratio"], [2, 0.1])
    path.write_text("ticker,date,ratio\nAAA,2020-03-02,2\nAAA,2020-04-01,-2\n")
    with pytest.raises(InputError, match=r"ev\.csv, line 3 .*'ratio'.*positive"):
        load_events(path)
