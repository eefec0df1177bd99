"""Real-world input files through the library: the parse rules, and the fast and precise readers agreeing.

The CLI-level cases are in test_real_inputs_cli.py; here each rule is checked on small inputs, and
every variant is read twice, by the fast reader (pyarrow) and by the precise one (pandas, forced),
which must give the same panel or the same message.
"""
from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest
from _files import CODES, bars, text, write_dir

import data_prep.readers as readers
from common.errors import InputError
from data_prep.dates import parse_dates
from data_prep.parse import Origin, parse_numbers
from data_prep.sources import load_source
from data_prep.validate import validate
from data_prep.windows import long_halt_rows

M = bars(days=40, seed=5)


def _origin(n: int, name: str = "a.csv") -> Origin:
    return Origin(np.array([0, n], np.int64), [name], [1], np.arange(1, n + 1, dtype=np.int64),
                  [{"close": "Close", "date": "Date"}])


def _numbers(values: list[str], decimal: str | None = None) -> np.ndarray:
    return parse_numbers(pa.array(values, pa.string()), _origin(len(values)), "close", decimal)


@pytest.mark.parametrize("values,decimal,expected", [
    (["99,92", "100,5", "7"], None, [99.92, 100.5, 7.0]),  # decimal comma: not 3 digits after it
    (["1.234,56", "999,5"], None, [1234.56, 999.5]),  # '.' grouping, ',' decimal
    (["1,234,567.5", "1,234", "12"], None, [1234567.5, 1234.0, 12.0]),  # thousands grouping, as before
    (["1,234", "5,678"], ",", [1.234, 5.678]),  # ambiguous, decided by the setting
    (["1,234", "5,678"], ".", [1234.0, 5678.0]),
    (["1.234", "5,5"], ",", [1234.0, 5.5]),
    (["", "NA", " 3.5 "], None, [np.nan, np.nan, 3.5]),
])
def test_numbers(values, decimal, expected):
    np.testing.assert_allclose(_numbers(values, decimal), expected)


@pytest.mark.parametrize("values,decimal,needles", [
    (["1,234", "5,678"], None, ("line 2", "field 'Close'", "'1,234' could be 1234", "or 1.234", 'decimal = ","')),
    (["99,92", "1,234"], None, ("line 3", "'1,234' could be",)),  # a decimal column must never look grouped
    (["99,92", "1,234,567"], None, ("line 3", "'1,234,567' and '99,92' (at line 2) use ',' in two ways",)),
    (["99,92"], ".", ("line 2", "'99,92' is not a number", 'decimal = "." is set')),
    (["1.5", "2,5"], ",", ("line 2", "'1.5' is not a number", "1.234,56")),
    (["1", "ten"], None, ("line 3", "'ten' is not a number",)),
    (["ten", "1,234"], None, ("line 2", "'ten'")),  # the first bad row wins
])
def test_number_rejections(values, decimal, needles):
    with pytest.raises(InputError) as err:
        _numbers(values, decimal)
    for needle in needles:
        assert needle in str(err.value), (needle, str(err.value))


def _dates(values: list[str]) -> tuple[np.ndarray, np.ndarray | None]:
    return parse_dates(pa.array(values, pa.string()), _origin(len(values)), "date")


def test_offsets_keep_the_local_date():
    d, tod = _dates(["2010-01-04T00:00:00+09:00", "2010-01-05T00:00:00+0900", "2010-01-06T09:30:00Z"])
    assert list(d.astype(str)) == ["2010-01-04", "2010-01-05", "2010-01-06"]
    assert list(tod) == [0, 0, 9 * 3600 + 1800]
    d, tod = _dates(["2010-01-04T00:00:00-05:00", "2010-01-05"[:10] + "T16:00:00-05:00"])
    assert list(d.astype(str)) == ["2010-01-04", "2010-01-05"]


@pytest.mark.parametrize("values,line,what", [
    (["2010-01-04T00:00:00+09:00", "2010-01-05", "2010-01-06T00:00:00+09:00"], 3, "has no UTC offset"),
    (["2010-01-04", "2010-01-05T00:00:00+09:00", "2010-01-06"], 3, "has a UTC offset"),
    (["2010-01-04T00:00:00+09:00", "2010-01-05"], 3, "has no UTC offset"),  # a tie: the odd one after the first
])
def test_mixed_offsets_name_the_minority_row(values, line, what):
    with pytest.raises(InputError, match=rf"a\.csv, line {line} .*field 'Date'.*{what}"):
        _dates(values)


def test_other_date_formats_and_bad_dates():
    assert str(_dates(["20100104", "20100105"])[0][1]) == "2010-01-05"
    assert str(_dates(["01/05/2010", "01/13/2010"])[0][0]) == "2010-01-05"  # 13 in the 2nd field: month first
    with pytest.raises(InputError, match=r"could be DD/MM/YYYY or MM/DD/YYYY"):  # no field above 12: refused
        _dates(["01/05/2010"])
    assert str(_dates(["05.01.2010"])[0][0]) == "2010-01-05"
    with pytest.raises(InputError, match=r"line 3 .*'2010-13-45' is not a date"):
        _dates(["2010-01-04", "2010-13-45"])


def test_parquet_with_a_time_zone_gives_the_csv_dates(tmp_path):
    g = M[M.Ticker == CODES[0]].drop(columns="Ticker")
    g.assign(Date=g["Date"].dt.tz_localize("Asia/Seoul")).to_parquet(tmp_path / "A.parquet", index=False)
    (tmp_path / "A.csv").write_text(text(g.assign(Ticker="A").reset_index(drop=True), ticker=False, offset="+09:00"))
    pq_dates = load_source(str(tmp_path / "A.parquet")).panel.date
    csv_dates = load_source(str(tmp_path / "A.csv")).panel.date
    np.testing.assert_array_equal(pq_dates, csv_dates)
    np.testing.assert_array_equal(csv_dates, g["Date"].to_numpy().astype("datetime64[D]"))


KRX = {  # one long file, as Korean vendors write it
    "comma_offset": dict(offset="+09:00"),
    "semicolon_decimal_comma_offset": dict(delimiter=";", decimal=",", offset="+09:00"),
    "excel_sep_semicolon_decimal_comma": dict(delimiter=";", decimal=",", sep_line=True),
    "tab_quoted_thousands": dict(delimiter="\t", thousands=True),
}


@pytest.mark.parametrize("variant", KRX)
def test_krx_long_file_round_trips(tmp_path, variant):
    (tmp_path / "krx.csv").write_text(text(M, **KRX[variant]))
    p = load_source(str(tmp_path / "krx.csv")).panel
    assert p.tickers == list(CODES)  # '000660' keeps its zeros
    assert list(np.array(p.tickers)[p.ticker]) == list(M.Ticker)
    np.testing.assert_array_equal(p.date, M["Date"].to_numpy().astype("datetime64[D]"))
    for col in ("Open", "High", "Low", "Close", "Volume"):
        np.testing.assert_array_equal(getattr(p, col.lower()), M[col].to_numpy(np.float64))


VARIANTS = {
    "plain": dict(),
    "semicolon_decimal_comma": dict(delimiter=";", decimal=","),
    "sep_line_tab": dict(delimiter="\t", sep_line=True),
    "offset": dict(offset="+09:00"),
    "quoted_thousands": dict(thousands=True),
}
BAD_LINES = {  # replace a line of the first file: the message must be the same on both paths
    "text_price": (3, lambda s: s.replace(s.split(",")[1], "ten", 1)),
    "ambiguous_volume": (4, lambda s: s.rsplit(",", 1)[0] + ',"1,234"'),
    "bad_date": (5, lambda s: "2010-13-45" + s[10:]),
    "empty_date": (6, lambda s: s[10:]),
    "unquoted_thousands": (4, lambda s: s.rsplit(",", 1)[0] + ",1,234"),
    "naive_among_offsets": (3, lambda s: s.replace("T00:00:00+09:00", "")),
}


def _precise(monkeypatch) -> None:
    def fail(*a, **k):
        raise pa.ArrowInvalid("forced: read every file with the precise reader")
    monkeypatch.setattr(readers, "_fast_csv", fail)


def _both(monkeypatch, load) -> tuple:
    out = []
    for precise in (False, True):
        if precise:
            _precise(monkeypatch)
        try:
            out.append(load())
        except InputError as e:
            out.append(str(e))
    monkeypatch.undo()
    return tuple(out)


@pytest.mark.parametrize("variant", VARIANTS)
def test_fast_and_precise_readers_agree(tmp_path, monkeypatch, variant):
    root = write_dir(M, tmp_path / "d", **VARIANTS[variant])
    fast, precise = _both(monkeypatch, lambda: load_source(str(root)).panel)
    assert not isinstance(fast, str), fast
    for col in ("ticker", "date", "open", "high", "low", "close", "volume", "file_id", "row"):
        np.testing.assert_array_equal(getattr(fast, col), getattr(precise, col), err_msg=col)
    assert fast.tickers == precise.tickers == list(CODES)


@pytest.mark.parametrize("bad", BAD_LINES)
def test_fast_and_precise_readers_reject_alike(tmp_path, monkeypatch, bad):
    line, edit = BAD_LINES[bad]
    root = write_dir(M, tmp_path / "d", offset="+09:00" if bad == "naive_among_offsets" else None)
    f = root / f"{CODES[1]}.csv"
    lines = f.read_text().splitlines()
    lines[line - 1] = edit(lines[line - 1])
    f.write_text("\n".join(lines) + "\n")
    fast, precise = _both(monkeypatch, lambda: load_source(str(root)))
    assert isinstance(fast, str) and fast == precise
    assert f"{CODES[1]}.csv" in fast and f"line {line}" in fast


@pytest.mark.parametrize("ticker", [False, True])
def test_blank_lines_keep_their_numbers_on_both_paths(tmp_path, monkeypatch, ticker):
    rows = text(M[M.Ticker == CODES[0]].reset_index(drop=True), ticker=ticker).splitlines()
    rows.insert(3, "")
    rows[6] = rows[6].rsplit(",", 1)[0] + ",-5"  # line 7 after the blank line 4
    (tmp_path / "A.csv").write_text("\n".join(rows) + "\n")
    fast, precise = _both(monkeypatch, lambda: validate(load_source(str(tmp_path / "A.csv")), 1))
    assert fast == precise and "A.csv, line 7 (data row 6" in fast and "volume=-5" in fast


def test_zero_volume_is_a_halt_only_for_a_ticker_that_trades(tmp_path):
    traded = M[M.Ticker == CODES[0]].reset_index(drop=True).copy()
    traded.loc[10:20, "Volume"] = 0  # an 11-day halt
    write_dir(traded, tmp_path / "d")
    write_dir(M[M.Ticker == CODES[1]].assign(Volume=0), tmp_path / "d")  # an index: never any volume
    v = validate(load_source(str(tmp_path / "d")), 1)
    assert v.no_volume == [CODES[1]]
    halted = long_halt_rows(v.panel, max_halt_days=5)
    assert halted[10:21].all() and halted.sum() == 11  # the index's zeros are not halts
    assert np.isnan(v.panel.volume[v.panel.ticker == 1]).all()


def test_intraday_is_named_and_resampled(tmp_path):
    (tmp_path / "A.csv").write_text("Datetime,Open,High,Low,Close,Volume\n"
                                    "2021-01-04 09:00,10,11,9,10.5,100\n"
                                    "2021-01-04 09:00,10,11,9,10.5,100\n"  # an exact duplicate: still a repair
                                    "2021-01-04 15:00,10.5,12,10,11,50\n"
                                    "2021-01-05 09:00,11,11.5,10.8,11.2,70\n")
    raw = load_source(str(tmp_path / "A.csv"))
    with pytest.raises(InputError, match=r"A\.csv, line 4 .*'date': the input holds intraday bars \(up to 2 rows "
                                          r"per day; 2021-01-04 has one at .*A\.csv, line 2 and another here\)"):
        validate(raw, 1)
    v = validate(raw, 1, resample="daily")
    p = v.panel
    assert list(p.date.astype(str)) == ["2021-01-04", "2021-01-05"] and "time_of_day" not in p.extra
    np.testing.assert_array_equal(np.c_[p.open, p.high, p.low, p.close, p.volume],
                                  [[10, 12, 9, 11, 150], [11, 11.5, 10.8, 11.2, 70]])
    assert [r["action"] for r in v.repairs] == ["dropped_exact_duplicates", "resampled_daily"]
