"""Date text -> days: the format of each file's date column is decided from the WHOLE column, never guessed.

Why not "the first format that reads every value": ``%m/%d/%Y`` reads ``01/02/20`` as the year 20
and ``13/01/2020`` fails only on the 13th, so a day-first column was read month-first up to there
and two-digit years landed in the first century (issue 20). So each value is first classified by
its shape (``YYYY-MM-DD``, ``YYYYMMDD``, ``YYYY/MM/DD``, ``YYYY.MM.DD``, ``NN/NN/YYYY``,
``NN.NN.YYYY``, ``NN-NN-YYYY``, and the two-digit-year shapes), and per file column:

- one shape per column: the first value of another shape is an error naming its line, both formats
  and the lines the first one covers;
- ``NN/NN/YYYY`` (and ``-``, ``.``): day-first when some first field is > 12, month-first when some
  second field is > 12; both is an error naming one line of each; neither (every field <= 12) is
  refused for ``/`` and ``-`` (``01/02/2020`` is 1 February in London and 2 January in New York),
  while ``.`` is read day-first (dotted dates are day-first wherever they are written);
- a two-digit year (``01/02/20``, ``02.01.20``, ``20-01-02``, ``200102``) is refused: which century,
  and for ``20-01-02`` even which field is the year, is a guess. ``date_format`` in [data]
  (``--date-format``) reads them explicitly, with the strptime rule for ``%y``: 69-99 -> 19xx,
  00-68 -> 20xx.

A time after the date (``09:30``, ``09:30:15``, ``09:30:15.5``) is kept as seconds since midnight.
The decisions that were not obvious (day-first or month-first) come back as notes for the summary.
``parse_dates`` is the readers' entry point (typed date/timestamp columns, integers YYYYMMDD, text);
it builds on data_prep.parse's ``Origin`` and Arrow helpers, and parse never imports it back.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from common.errors import InputError

from .parse import NULL_TOKENS, Origin, _as_text, _first, _np, _str

__all__ = ["parse_dates", "text_dates", "DateShape", "SHAPES"]

_OFFSET = r"^(.*\d:\d{2}(?::\d{2}(?:\.\d*)?)?)\s*(?:Z|[+-]\d{2}:?\d{2})$"  # a time, then Z or +hh:mm

_HINT = "write dates as YYYY-MM-DD"


@dataclass(frozen=True)
class DateShape:
    label: str  # how messages name the format, e.g. 'YYYY-MM-DD' or 'NN/NN/YYYY'
    regex: str  # the date part's shape
    formats: tuple[str, ...]  # strptime format: (one) fixed, or (day-first, month-first) decided by the column
    two_digit_year: bool = False
    dotted: bool = False  # NN.NN.YYYY: day-first when the column does not decide


SHAPES = (
    DateShape("YYYY-MM-DD", r"^\d{4}-\d{1,2}-\d{1,2}$", ("%Y-%m-%d",)),
    DateShape("YYYYMMDD", r"^\d{8}$", ("%Y%m%d",)),
    DateShape("YYYY/MM/DD", r"^\d{4}/\d{1,2}/\d{1,2}$", ("%Y/%m/%d",)),
    DateShape("YYYY.MM.DD", r"^\d{4}\.\d{1,2}\.\d{1,2}$", ("%Y.%m.%d",)),
    DateShape("NN/NN/YYYY", r"^\d{1,2}/\d{1,2}/\d{4}$", ("%d/%m/%Y", "%m/%d/%Y")),
    DateShape("NN.NN.YYYY", r"^\d{1,2}\.\d{1,2}\.\d{4}$", ("%d.%m.%Y", "%m.%d.%Y"), dotted=True),
    DateShape("NN-NN-YYYY", r"^\d{1,2}-\d{1,2}-\d{4}$", ("%d-%m-%Y", "%m-%d-%Y")),
    DateShape("NN/NN/YY", r"^\d{1,2}/\d{1,2}/\d{2}$", ("%d/%m/%y", "%m/%d/%y"), two_digit_year=True),
    DateShape("NN.NN.YY", r"^\d{1,2}\.\d{1,2}\.\d{2}$", ("%d.%m.%y", "%m.%d.%y"), two_digit_year=True),
    DateShape("NN-NN-NN", r"^\d{1,2}-\d{1,2}-\d{2}$", ("%y-%m-%d", "%d-%m-%y", "%m-%d-%y"), two_digit_year=True),
    DateShape("YYMMDD", r"^\d{6}$", ("%y%m%d",), two_digit_year=True),
)
_GROUP = {"d": r"(?P<d>\d{1,2})", "m": r"(?P<m>\d{1,2})", "Y": r"(?P<Y>\d{4})", "y": r"(?P<y>\d{2})"}
_SPLIT = r"^(?P<d>[^ T]+)(?:[T ]+(?P<t>\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?))?$"
_TIME = r"^(?P<h>\d{1,2}):(?P<m>\d{2})(?::(?P<s>\d{2}(?:\.\d+)?))?$"


def _label(fmt: str) -> str:
    """'%d/%m/%Y' -> 'DD/MM/YYYY' (how a user would write the format)."""
    return fmt.replace("%d", "DD").replace("%m", "MM").replace("%Y", "YYYY").replace("%y", "YY")


def _fail(origin: Origin, i: int, canon: str, what: str) -> InputError:
    return InputError(f"{origin.where(i, canon)}: {what}")


def _split_time(text: pa.ChunkedArray) -> tuple[pa.ChunkedArray, np.ndarray, np.ndarray]:
    """(date part, seconds since midnight, bool rows whose time part is malformed)."""
    n = len(text)
    if not _np(pc.match_substring_regex(text, r"[T ]"), False).any():
        return text, np.zeros(n, np.int64), np.zeros(n, bool)
    parts = pc.extract_regex(text, _SPLIT)
    date = pc.fill_null(pc.struct_field(parts, "d"), "")
    tpart = pc.fill_null(pc.struct_field(parts, "t"), "")
    bad = _np(pc.is_null(parts), True)
    secs = np.zeros(n, np.int64)
    has = _np(pc.not_equal(tpart, ""), False)
    if has.any():
        idx = np.flatnonzero(has)
        t = pc.extract_regex(tpart.take(pa.array(idx)), _TIME)
        h = _np(pc.cast(pc.struct_field(t, "h"), pa.int64()))
        m = _np(pc.cast(pc.struct_field(t, "m"), pa.int64()))
        s_text = pc.struct_field(t, "s")
        s = _np(pc.fill_null(pc.cast(pc.if_else(pc.equal(s_text, ""), "0", s_text), pa.float64()), 0.0))
        bad[idx[(h > 23) | (m > 59) | (s >= 61)]] = True
        secs[idx] = h * 3600 + m * 60 + np.floor(s).astype(np.int64)
    return date, secs, bad


def _strptime(text: pa.ChunkedArray, idx: np.ndarray, fmt: str) -> np.ndarray:
    """Seconds since the epoch of rows ``idx`` read with ``fmt``; -1 where a value does not fit it.

    strptime rolls an impossible day over ('2020-02-30' -> 1 March): the day and month read back
    must be the ones written, else the value is no date.
    """
    sub = text.take(pa.array(idx))
    got = pc.strptime(sub, format=fmt, unit="s", error_is_null=True)
    secs = _np(pc.fill_null(got.cast(pa.int64()), -1))
    fields = re.findall(r"%([dmYy])", fmt)
    if sorted(fields) in (["Y", "d", "m"], ["d", "m", "y"]) and not re.sub(r"%[dmYy]", "", fmt).strip("/.- "):
        pattern = "^" + re.sub(r"%([dmYy])", lambda m: _GROUP[m.group(1)], re.escape(fmt)) + "$"
        parts = pc.extract_regex(sub, pattern)
        ok = ~_np(pc.is_null(parts), True)
        for name, part in (("d", pc.day(got)), ("m", pc.month(got))):
            written = _np(pc.fill_null(pc.cast(pc.struct_field(parts, name), pa.int64()), -1))
            ok &= written == _np(pc.fill_null(part, -2))
        secs[~ok] = -1
    return secs


def _explicit(date: pa.ChunkedArray, origin: Origin, canon: str, raw: pa.ChunkedArray, empty: np.ndarray,
              fmt: str) -> np.ndarray:
    secs = _strptime(date, np.arange(len(date)), fmt)
    bad = np.flatnonzero(empty | (secs == -1))
    if bad.size:
        i = int(bad[0])
        what = "is empty" if empty[i] else f"{_str(raw, i)!r} is not a date written {_label(fmt)}"
        raise _fail(origin, i, canon, f"{what} (date_format = {fmt!r}); fix or delete that row, or change "
                                      f"date_format.")
    return secs


def _classify(date: pa.ChunkedArray) -> np.ndarray:
    """int8 [n]: the index into SHAPES of each value's shape, -1 for none; one regex pass per shape over
    the values still unclassified (a column is mostly one shape, so usually one pass in all)."""
    kind = np.full(len(date), -1, np.int8)
    left = np.arange(len(date))
    for k, shape in enumerate(SHAPES):
        if not left.size:
            break
        hit = _np(pc.match_substring_regex(date.take(pa.array(left)), shape.regex), False)
        kind[left[hit]] = k
        left = left[~hit]
    return kind


def _fields(date: pa.ChunkedArray, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The first and second numbers of NN?NN?YYYY values ``idx``."""
    parts = pc.extract_regex(date.take(pa.array(idx)), r"^(?P<a>\d{1,2})\D(?P<b>\d{1,2})\D")
    return (_np(pc.cast(pc.struct_field(parts, "a"), pa.int64())),
            _np(pc.cast(pc.struct_field(parts, "b"), pa.int64())))


def _order(date: pa.ChunkedArray, raw: pa.ChunkedArray, origin: Origin, canon: str, rows: np.ndarray,
           shape: DateShape, where: str) -> tuple[str, str | None]:
    """(strptime format, why) of one file's NN?NN?YYYY column, decided from all its values."""
    a, b = _fields(date, rows)
    day_first, month_first = np.flatnonzero(a > 12), np.flatnonzero(b > 12)
    if day_first.size and month_first.size:
        i, j = int(rows[day_first[0]]), int(rows[month_first[0]])
        raise _fail(origin, max(i, j), canon,
                    f"this column has dates written day first ({_str(raw, i)!r} at {origin.line(i)}) and month "
                    f"first ({_str(raw, j)!r} at {origin.line(j)}); write every date one way, best as YYYY-MM-DD.")
    if day_first.size:
        i = int(rows[day_first[0]])
        return shape.formats[0], f"day first: {_str(raw, i)!r} at {origin.line(i)}"
    if month_first.size:
        j = int(rows[month_first[0]])
        return shape.formats[1], f"month first: {_str(raw, j)!r} at {origin.line(j)}"
    if shape.dotted:
        return shape.formats[0], "day first: dotted dates are day first (no field above 12 decides)"
    i = int(rows[0])
    day, month = shape.formats
    raise _fail(origin, i, canon,
                f"{_str(raw, i)!r} could be {_label(day)} or {_label(month)}, and no date in {where} has a field "
                f"above 12 to decide; {_HINT}, or set date_format = \"{day}\" (day first) or \"{month}\" (month "
                f"first) in [data] (or pass --date-format) to say which.")


def _first_bad(bad: np.ndarray) -> int | None:
    hit = np.flatnonzero(bad)
    return int(hit[0]) if hit.size else None


def text_dates(text: pa.ChunkedArray, origin: Origin, canon: str, raw: pa.ChunkedArray,
               date_format: str | None = None, notes: list[dict] | None = None) -> np.ndarray:
    """Seconds since the epoch [n] of date texts (trimmed, UTC offsets already split off); see the module
    docstring for the rules. ``notes`` receives one entry per file whose day/month order was decided."""
    n = len(text)
    empty = _np(pc.is_in(text, value_set=pa.array(NULL_TOKENS, text.type)), True)
    date, tod, bad_time = _split_time(text)
    if date_format is not None:  # a format with a time reads the whole value; else the date part, time kept
        if "%H" in date_format:
            return _explicit(text, origin, canon, raw, empty, date_format)
        return _explicit(date, origin, canon, raw, empty, date_format) + tod
    kind = _classify(date)
    nseg = len(origin.starts) - 1
    seg = np.repeat(np.arange(nseg), np.diff(origin.starts))
    given = ~empty & (kind >= 0)
    # each file's shape is that of its first value; a value of another shape (or none) is bad
    first = np.full(nseg, -1, np.int64)
    gi = np.flatnonzero(given)[::-1]
    first[seg[gi]] = gi
    file_kind = np.where(first >= 0, kind[np.maximum(first, 0)], -1)
    bad = empty | (kind < 0) | bad_time | (given & (kind != file_kind[seg]))
    two = np.array([s.two_digit_year for s in SHAPES])
    bad |= given & two[np.maximum(kind, 0)]
    i = _first_bad(bad)
    if i is not None:
        raise _bad_value(text, raw, origin, canon, i, kind, file_kind[seg[i]], int(first[seg[i]]))
    secs = np.empty(n, np.int64)
    used: dict[int, str] = {}
    for k in range(nseg):
        a, b = int(origin.starts[k]), int(origin.starts[k + 1])
        if a == b:
            continue
        shape = SHAPES[int(file_kind[k])]
        fmt, why = shape.formats[0], None
        if len(shape.formats) == 2:
            fmt, why = _order(date, raw, origin, canon, np.arange(a, b), shape, origin.names[k])
        secs[a:b] = _strptime(date, np.arange(a, b), fmt)
        used[k] = fmt
        if why is not None and notes is not None:
            notes.append({"file": origin.names[k], "date_format": _label(fmt), "decided_by": why})
    i = _first_bad(secs == -1)
    if i is not None:
        raise _fail(origin, i, canon, f"{_str(raw, i)!r} is not a date (read as {_label(used[origin.file_of(i)])}, "
                                      f"like the rest of this column); fix or delete that row.")
    return secs + tod


def _written(text: pa.ChunkedArray, kind: np.ndarray, origin: Origin, i: int, shape: DateShape) -> str:
    """How the values of row i's shape in its file are written: 'MM/DD/YYYY' when a field above 12 says."""
    if len(shape.formats) != 2:
        return shape.label
    k = origin.file_of(i)
    a, b = int(origin.starts[k]), int(origin.starts[k + 1])
    rows = a + np.flatnonzero(kind[a:b] == kind[i])
    date, _, _ = _split_time(text.slice(0, b))
    first, second = _fields(date, rows)
    if ((first > 12).any() or shape.dotted) and not (second > 12).any():
        return _label(shape.formats[0])
    if (second > 12).any() and not (first > 12).any():
        return _label(shape.formats[1])
    return f"{_label(shape.formats[1])} or {_label(shape.formats[0])}"


def _bad_value(text: pa.ChunkedArray, raw: pa.ChunkedArray, origin: Origin, canon: str, i: int,
               kind: np.ndarray, file_kind: int, first: int) -> InputError:
    value = _str(raw, i)
    if value.strip() in NULL_TOKENS:
        return _fail(origin, i, canon, f"is empty; {_HINT} (or YYYYMMDD), or delete that row.")
    k = int(kind[i])
    if k < 0 or file_kind < 0:
        return _fail(origin, i, canon, f"{value!r} is not a date; {_HINT} (or YYYYMMDD), or delete that row.")
    shape, own = SHAPES[k], SHAPES[file_kind]
    if k != file_kind:
        before = i - 1
        return _fail(origin, i, canon,
                     f"{value!r} is written {_written(text, kind, origin, i, shape)}, but the dates before it (lines "
                     f"{origin.line(first).removeprefix('line ')} to {origin.line(before).removeprefix('line ')}, "
                     f"e.g. {_str(raw, first)!r}) are written {own.label}; write the whole column in one format, "
                     f"best YYYY-MM-DD.")
    options = " or ".join(repr(f) for f in shape.formats)
    return _fail(origin, i, canon,
                 f"{value!r} has a two-digit year ({shape.label}), and prep does not guess the century; {_HINT} "
                 f"(in Excel: format the column as yyyy-mm-dd before saving), or set date_format to "
                 f"{options} in [data] (or pass --date-format) to read it with years 69-99 as 19xx and "
                 f"00-68 as 20xx.")



def _split_offsets(text: pa.ChunkedArray, origin: Origin, canon: str) -> pa.ChunkedArray:
    """The local date and time of offset-aware timestamps (the offset dropped); mixing is an error."""
    if not pc.any(pc.match_substring(text, ":")).as_py():
        return text
    aware = _np(pc.match_substring_regex(text, _OFFSET), False)
    if not aware.any():
        return text
    given = _np(pc.not_equal(text, ""), False)
    nseg = len(origin.starts) - 1
    seg_rows = np.repeat(np.arange(nseg), np.diff(origin.starts))
    n_aware = np.bincount(seg_rows, weights=aware, minlength=nseg)
    n_naive = np.bincount(seg_rows, weights=given & ~aware, minlength=nseg)
    mixed = np.flatnonzero((n_aware > 0) & (n_naive > 0))
    if mixed.size:
        k = int(mixed[0])
        a, b = int(origin.starts[k]), int(origin.starts[k + 1])
        seg_aware, seg_naive = aware[a:b], given[a:b] & ~aware[a:b]
        first_is_aware = bool(seg_aware[np.flatnonzero(seg_aware | seg_naive)[0]])
        # the minority kind is the odd one out; on a tie, the kind that differs from the first row
        minority_aware = n_aware[k] < n_naive[k] or (n_aware[k] == n_naive[k] and not first_is_aware)
        i = a + int(np.flatnonzero(seg_aware if minority_aware else seg_naive)[0])
        j = a + int(np.flatnonzero(seg_naive if minority_aware else seg_aware)[0])
        has = "has a UTC offset" if minority_aware else "has no UTC offset"
        others = "have none" if minority_aware else "have one"
        raise InputError(
            f"{origin.where(i, canon)}: {_str(text, i)!r} {has}, but other dates in this column {others} (e.g. "
            f"{_str(text, j)!r} at {origin.line(j)}); write every timestamp with its offset, or none.")
    return pc.replace_substring_regex(text, _OFFSET, r"\1")


def parse_dates(values: pa.Array | pa.ChunkedArray, origin: Origin, canon: str, date_format: str | None = None,
                notes: list[dict] | None = None) -> tuple[np.ndarray, np.ndarray | None]:
    """(datetime64[D] [n], seconds since local midnight int32 [n] or None when every value is a whole day).

    Strings: one format per file column, decided from the whole column (``dates.text_dates``), or
    ``date_format`` when given; integers are YYYYMMDD (KRX style); timestamps with a time zone keep
    their local date and time. ``notes`` receives the day-first/month-first decisions.
    """
    if isinstance(values, pa.Array):
        values = pa.chunked_array([values])
    t = values.type
    if pa.types.is_timestamp(t) or pa.types.is_date(t):
        if pa.types.is_timestamp(t) and t.tz is not None:
            values = pc.local_timestamp(values)  # the exchange's wall-clock time, not UTC
        secs = _np(pc.cast(values, pa.timestamp("s"), safe=False).cast(pa.int64()))
        if values.null_count:
            i = _first(_np(pc.is_null(values)))
            raise InputError(f"{origin.where(i, canon)}: is empty; write dates as YYYY-MM-DD (or YYYYMMDD), or "
                             f"delete that row.")
    else:
        raw = values if not pa.types.is_integer(t) else pc.cast(values, pa.string())
        try:  # the common case, YYYY-MM-DD everywhere: one cast, no other look at the text
            whole = pc.cast(raw, pa.date32())
            if whole.null_count == 0:
                return _np(whole.cast(pa.int32())).astype("datetime64[D]"), None
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            pass
        secs = text_dates(_split_offsets(_as_text(raw), origin, canon), origin, canon, raw, date_format, notes)
    days = np.floor_divide(secs, 86400)
    tod = (secs - days * 86400).astype(np.int32)
    return days.astype("datetime64[D]"), (tod if tod.any() else None)
