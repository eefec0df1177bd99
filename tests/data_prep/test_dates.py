"""Date columns: the format is decided from the whole column, never guessed (issue 20, dates).

Each case failed before: two-digit years were read as the years 20 or 2, a day-first column was read
month-first up to its 13th, and a column switching format blamed a correct row.
"""
from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from common.errors import InputError
from data_prep.dates import parse_dates
from data_prep.parse import Origin


def _dates(values: list[str], date_format: str | None = None, files: int = 1) -> tuple[list[str], list[dict]]:
    n = len(values)
    starts = np.linspace(0, n, files + 1).astype(np.int64)
    rows = np.concatenate([np.arange(1, starts[k + 1] - starts[k] + 1) for k in range(files)])
    origin = Origin(starts, [f"f{k}.csv" for k in range(files)], [1] * files, rows, [{"date": "Date"}] * files)
    notes: list[dict] = []
    days, _ = parse_dates(pa.array(values), origin, "date", date_format, notes)
    return [str(d) for d in days], notes


@pytest.mark.parametrize("value, shape", [("01/02/20", "NN/NN/YY"), ("02.01.20", "NN.NN.YY"),
                                          ("20-01-02", "NN-NN-NN"), ("200102", "YYMMDD")])
def test_a_two_digit_year_is_refused_naming_line_and_format(value, shape):
    with pytest.raises(InputError) as e:
        _dates([value, value])
    msg = str(e.value)
    assert "line 2" in msg and "two-digit year" in msg and shape in msg and "date_format" in msg, msg


def test_a_two_digit_year_is_read_with_an_explicit_format():
    assert _dates(["01/02/20", "12/31/99"], "%m/%d/%y")[0] == ["2020-01-02", "1999-12-31"]
    assert _dates(["02.01.20"], "%d.%m.%y")[0] == ["2020-01-02"]
    assert _dates(["02.01.20 09:30"], "%d.%m.%y %H:%M")[0] == ["2020-01-02"]
    assert _dates(["02.01.20 09:30"], "%d.%m.%y")[0] == ["2020-01-02"]  # the time is kept either way
    with pytest.raises(InputError, match=r"line 3 .*'2020-01-03' is not a date written MM/DD/YY"):
        _dates(["01/02/20", "2020-01-03"], "%m/%d/%y")


def test_day_first_is_decided_by_any_field_above_12_and_noted():
    days, notes = _dates(["02/01/2020", "03/01/2020", "13/01/2020"])
    assert days == ["2020-01-02", "2020-01-03", "2020-01-13"]  # not 1 Feb, 1 Mar
    assert notes == [{"file": "f0.csv", "date_format": "DD/MM/YYYY", "decided_by": "day first: '13/01/2020' at line 4"}]
    days, notes = _dates(["01/02/2020", "01/13/2020"])
    assert days == ["2020-01-02", "2020-01-13"] and notes[0]["date_format"] == "MM/DD/YYYY"


def test_day_month_ambiguous_throughout_is_refused_unless_said():
    with pytest.raises(InputError, match=r"line 2 .*could be DD/MM/YYYY or MM/DD/YYYY.*date_format"):
        _dates(["01/02/2020", "01/03/2020"])
    assert _dates(["01/02/2020"], "%d/%m/%Y")[0] == ["2020-02-01"]
    assert _dates(["01.02.2020"])[0] == ["2020-02-01"]  # dotted dates are day first


def test_day_first_and_month_first_in_one_column_is_refused():
    with pytest.raises(InputError, match=r"line 4 .*day first \('13/01/2020' at line 2\).*month first "
                                         r"\('01/13/2020' at line 4\)"):
        _dates(["13/01/2020", "01/02/2020", "01/13/2020"])


def test_each_file_decides_its_own_order():
    days, notes = _dates(["13/01/2020", "01/02/2020", "01/13/2020", "01/02/2020"], files=2)
    assert days == ["2020-01-13", "2020-02-01", "2020-01-13", "2020-01-02"]
    assert [n["date_format"] for n in notes] == ["DD/MM/YYYY", "MM/DD/YYYY"]


def test_a_second_format_names_its_first_line_and_both_formats():
    values = [f"2012-01-{d:02d}" for d in range(2, 30)] + ["01/30/2012", "01/31/2012"]
    with pytest.raises(InputError) as e:
        _dates(values)
    msg = str(e.value)
    assert "line 30 " in msg and "'01/30/2012' is written MM/DD/YYYY" in msg and "lines 2 to 29" in msg, msg
    assert "YYYY-MM-DD" in msg


@pytest.mark.parametrize("value", ["2020-02-30", "20200230", "31/04/2020"])
def test_an_impossible_day_is_not_rolled_over(value):
    with pytest.raises(InputError, match=rf"line 3 .*'{value}' is not a date"):
        _dates(["2020-01-02" if "-" in value else "20200102" if len(value) == 8 else "13/01/2020", value])


def test_times_after_other_date_formats_are_kept():
    o = Origin(np.array([0, 2]), ["a.csv"], [1], np.arange(1, 3), [{"date": "Date"}])
    days, tod = parse_dates(pa.array(["1/2/2020 9:30", "13/2/2020 10:00:05"]), o, "date")
    assert [str(d) for d in days] == ["2020-02-01", "2020-02-13"] and list(tod) == [34200, 36005]


def test_date_format_must_name_day_month_and_year():
    from data_prep.config import PrepConfig
    assert PrepConfig(date_format="%d/%m/%y").date_format == "%d/%m/%y"
    with pytest.raises(InputError, match=r"date_format must name the day, month and year.*'%Y-%m'"):
        PrepConfig(date_format="%Y-%m")
