"""validate: safe repairs are applied and listed; short tickers are skipped; bad rows are pointed at."""
from __future__ import annotations

import numpy as np
import pytest

from common.errors import InputError
from data_prep.sources import load_source
from data_prep.validate import validate

HEADER = "Date,Open,High,Low,Close,Volume\n"


def _rows(n: int, start_price: float = 100.0) -> list[str]:
    days = np.arange(np.datetime64("2021-01-04"), np.datetime64("2021-01-04") + 3 * n)
    days = days[np.is_busday(days)][:n]
    return [f"{d},{start_price + i},{start_price + i + 2},{start_price + i - 1},{start_price + i + 1},{1000 + i}"
            for i, d in enumerate(days)]


def test_sorts_unsorted_dates_and_reports_it(tmp_path):
    rows = _rows(30)
    (tmp_path / "AAA.csv").write_text(HEADER + "\n".join(rows[::-1]) + "\n")
    (tmp_path / "BBB.csv").write_text(HEADER + "\n".join(rows) + "\n")
    v = validate(load_source(str(tmp_path)), min_rows=10)
    p = v.panel
    assert np.all(np.diff(p.date[p.ticker == 0].astype(np.int64)) > 0)
    assert [r["ticker"] for r in v.repairs if r["action"] == "sorted"] == ["AAA"]
    assert "AAA.csv, line" in v.repairs[0]["first"]
    # provenance follows the rows: the earliest date of AAA was the last line of its file
    assert int(p.row[0]) == 30


def test_long_file_grouped_by_date_is_not_a_repair(tmp_path):
    a, b = _rows(20), _rows(20, 50.0)
    lines = [f"AAA,{x}" for x in a]
    lines = [v for pair in zip(lines, [f"BBB,{x}" for x in b]) for v in pair]
    (tmp_path / "all.csv").write_text("Ticker," + HEADER + "\n".join(lines) + "\n")
    v = validate(load_source(str(tmp_path / "all.csv")), min_rows=5)
    assert v.repairs == [] and v.panel.tickers == ["AAA", "BBB"]
    assert np.all(v.panel.ticker[:20] == 0) and np.allclose(v.panel.open[20:22], [50, 51])


def test_drops_exact_duplicates_and_reports_them(tmp_path):
    rows = _rows(25)
    (tmp_path / "AAA.csv").write_text(HEADER + "\n".join(rows + rows[3:5]) + "\n")
    v = validate(load_source(str(tmp_path)), min_rows=10)
    assert len(v.panel) == 25
    (rep,) = [r for r in v.repairs if r["action"] == "dropped_exact_duplicates"]
    assert rep["rows"] == 2 and rep["ticker"] == "AAA" and "AAA.csv, line" in rep["first"]


def test_conflicting_duplicate_names_both_rows(tmp_path):
    rows = _rows(12)
    bad = rows[4].replace(",1004", ",9999")  # same date, other volume
    (tmp_path / "AAA.csv").write_text(HEADER + "\n".join(rows + [bad]) + "\n")
    with pytest.raises(InputError, match=r"AAA\.csv, line 14 .*'volume'.*appears twice.*line 6"):
        validate(load_source(str(tmp_path)), min_rows=5)


def test_short_tickers_are_skipped_with_counts(tmp_path):
    (tmp_path / "LONG.csv").write_text(HEADER + "\n".join(_rows(40)) + "\n")
    (tmp_path / "TINY.csv").write_text(HEADER + "\n".join(_rows(3)) + "\n")
    v = validate(load_source(str(tmp_path)), min_rows=20)
    assert v.panel.tickers == ["LONG"] and np.all(v.panel.ticker == 0) and len(v.panel) == 40
    assert [{k: s[k] for k in ("ticker", "rows", "min_rows")} for s in v.skipped] == \
        [{"ticker": "TINY", "rows": 3, "min_rows": 20}]
    assert "3 rows, fewer than the 20 one window needs" in v.skipped[0]["reason"]


def test_nothing_usable_left_is_an_error(tmp_path):
    (tmp_path / "TINY.csv").write_text(HEADER + "\n".join(_rows(3)) + "\n")
    with pytest.raises(InputError, match=r"no ticker has enough rows.*min_rows=20.*'TINY', has 3"):
        validate(load_source(str(tmp_path)), min_rows=20)


def test_reports_the_first_bad_row_in_file_order(tmp_path):
    rows = _rows(10)
    rows[6] = rows[6].replace(",1006", ",-5")  # line 8
    rows[2] = rows[2].replace(",1002", ",-1")  # line 4: reported first
    (tmp_path / "AAA.csv").write_text(HEADER + "\n".join(rows) + "\n")
    with pytest.raises(InputError, match=r"AAA\.csv, line 4 \(data row 3.*'volume'.*volume=-1"):
        validate(load_source(str(tmp_path)), min_rows=1)


def test_synthetic_market_passes_unchanged():
    raw = load_source("synthetic:tickers=40,days=300,seed=0")
    v = validate(raw, min_rows=50)
    assert v.repairs == []
    kept = {s["ticker"] for s in v.skipped}
    assert len(v.panel.tickers) + len(kept) == 40
    assert np.all(np.diff(v.panel.ticker) >= 0)
