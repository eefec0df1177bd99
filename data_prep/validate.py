"""Check a raw panel and make it the sorted, duplicate-free panel every later step assumes.

Every check is one vectorized mask over the whole panel (10M rows in well under a second); the first
offending row, in the user's file order, is reported with its file, line, field, value and what to
do. Two things are repaired instead of rejected because they are unambiguous and common in exports:
rows out of date order (sorted) and exact duplicate rows (dropped); both are listed in ``repairs``
for the report. Intraday bars (several timestamps of one ticker on one day) are an error naming
them, or aggregated to daily bars with ``resample = "daily"`` (also listed). Tickers too short to
form one window, and tickers whose close never moves (no return to learn: every target would be a
tie), are skipped with the reason, not fatal, unless none is left. Stale weekend rows (volume 0, the
previous close repeated) are dropped and weekend rows with trading kept, both reported (weekends.py).

Volume: a ticker whose volume is absent, or zero/empty on every row (indices, FX, many vendor
files), has no volume information: its volume becomes NaN, which makes its volume features neutral
(0 after scaling) and keeps windows.py from taking its zero-volume days for halts. A zero volume is a
halt only for a ticker that trades (volume > 0) on other days.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from common.errors import InputError

from .intraday import intraday_days, to_daily
from .panel import Panel
from .sources import RawInput, describe_row
from .weekends import weekend_rows

__all__ = ["Validated", "validate"]

_PRICES = ("open", "high", "low", "close")
_REL_TOL = 1e-6  # high/low vs open/close: allow float noise from exports, not real inconsistencies


@dataclass(frozen=True)
class Validated:
    panel: Panel  # sorted by (ticker, date), exact duplicates dropped, short tickers removed
    repairs: list[dict] = field(default_factory=list)  # what was sorted / dropped / resampled, per ticker
    skipped: list[dict] = field(default_factory=list)  # tickers with fewer than min_rows rows, with the reason
    no_volume: list[str] = field(default_factory=list)  # kept tickers without volume information
    weekend_rows: list[dict] = field(default_factory=list)  # per ticker: stale weekend rows dropped, traded ones kept


def _first(panel: Panel, mask: np.ndarray) -> int | None:
    """Index of the offending row that comes first in the user's files (file, then row), or None."""
    bad = np.flatnonzero(mask)
    if bad.size == 0:
        return None
    if panel.file_id is None or panel.row is None:
        return int(bad[0])
    order = np.lexsort((panel.row[bad], panel.file_id[bad]))
    return int(bad[order[0]])


def _fail(panel: Panel, i: int, field_name: str, problem: str, todo: str = "fix or delete that row") -> None:
    raise InputError(f"{describe_row(panel, i)}, ticker {panel.tickers[int(panel.ticker[i])]!r}, field "
                     f"{field_name!r}: {problem}; {todo}.")


def _fmt(x: float) -> str:
    return "empty" if np.isnan(x) else f"{x:g}"


def _volume_information(p: Panel) -> tuple[Panel, np.ndarray]:
    """(panel with NaN volume for tickers without volume information, bool [tickers] of those tickers)."""
    v = p.volume
    informative = np.zeros(len(p.tickers), dtype=bool)
    informative[p.ticker[np.abs(v) > 0]] = True  # NaN > 0 is False; negative volumes are rejected later
    if informative.all():
        return p, ~informative
    unknown = ~informative[p.ticker]
    return replace(p, volume=np.where(unknown, np.nan, v)), ~informative


def _check_values(p: Panel, no_volume: np.ndarray) -> None:
    """Raise on the first row whose values cannot be a daily bar (volume: only of tickers that have one)."""
    for name in _PRICES:
        col = getattr(p, name)
        i = _first(p, np.isnan(col))
        if i is not None:
            _fail(p, i, name, "the price is empty (NaN)", "fill it in or delete that row")
        i = _first(p, ~(col > 0) | np.isinf(col))
        if i is not None:
            _fail(p, i, name, f"prices must be positive and finite, but got {name}={_fmt(col[i])}")
    i = _first(p, ~np.isfinite(p.volume) & ~no_volume[p.ticker])
    if i is not None:
        _fail(p, i, "volume", f"volume is {_fmt(p.volume[i])}", "write 0 for a halted day, or delete that row")
    i = _first(p, p.volume < 0)
    if i is not None:
        _fail(p, i, "volume", f"volume must be >= 0, but got volume={_fmt(p.volume[i])}")
    body_hi = np.maximum(p.open, p.close)
    i = _first(p, p.high < body_hi * (1 - _REL_TOL))
    if i is not None:
        _fail(p, i, "high", f"high must be >= max(open, close), but got high={_fmt(p.high[i])}, "
                            f"open={_fmt(p.open[i])}, close={_fmt(p.close[i])}")
    body_lo = np.minimum(p.open, p.close)
    i = _first(p, p.low > body_lo * (1 + _REL_TOL))
    if i is not None:
        _fail(p, i, "low", f"low must be <= min(open, close), but got low={_fmt(p.low[i])}, "
                           f"open={_fmt(p.open[i])}, close={_fmt(p.close[i])}")
    for name, what in (("adj_close", "adjusted close"), ("adj_factor", "adjustment factor")):
        col = p.extra.get(name)
        if col is None:
            continue
        i = _first(p, ~(col > 0) | ~np.isfinite(col))
        if i is not None:
            _fail(p, i, name, f"the {what} must be a positive number, but got {name}={_fmt(col[i])}",
                  f"fill it in, or remove the {name} column from every file")
    i = _first(p, np.isnat(p.date))
    if i is not None:
        _fail(p, i, "date", "the date is empty")


def _sort_order(ticker: np.ndarray, days: np.ndarray) -> np.ndarray:
    """Stable argsort by (ticker, day): one packed int64 key (ticker | day | row) and numpy's SIMD sort.

    Packing the row number into the key makes every key unique, so an unstable sort is stable; it is
    several times faster than ``argsort(kind="stable")`` on 10M rows.
    """
    n = len(ticker)
    span = int(days.max() - days.min()) + 1
    ibits, dbits = max(int(n - 1).bit_length(), 1), max(span.bit_length(), 1)
    tbits = max(int(ticker.max()).bit_length(), 1)
    if ibits + dbits + tbits > 63:
        return np.argsort((ticker.astype(np.int64) << 32) | (days - days.min()), kind="stable")
    key = (ticker.astype(np.int64) << (dbits + ibits)) | ((days - days.min()) << ibits) | np.arange(n, dtype=np.int64)
    key.sort()
    return key & ((1 << ibits) - 1)


def _sort(p: Panel, days: np.ndarray, repairs: list[dict]) -> np.ndarray | None:
    """Row order by (ticker, date) (``days``: the day, or the second of intraday bars), keeping file
    order among equal keys (None: already sorted).

    Logs the tickers whose dates were out of order within themselves (not merely interleaved, as in
    a long file sorted by date).
    """
    same = p.ticker[1:] == p.ticker[:-1]
    if np.all((p.ticker[1:] > p.ticker[:-1]) | (same & (days[1:] >= days[:-1]))):
        return None  # the common case (and the synthetic market) costs two comparisons
    order = _sort_order(p.ticker, days)
    # within a ticker, sorted rows whose original position goes backwards were out of order
    t = p.ticker[order]
    back = np.flatnonzero((t[1:] == t[:-1]) & (order[1:] < order[:-1])) + 1
    if back.size:
        counts = np.bincount(t[back], minlength=len(p.tickers))
        first_pos = np.full(len(p.tickers), -1, dtype=np.int64)
        first_pos[t[back][::-1]] = order[back][::-1]  # earliest offending row per ticker, in sorted order
        for k in np.flatnonzero(counts):
            repairs.append({"action": "sorted", "ticker": p.tickers[k], "rows_out_of_order": int(counts[k]),
                            "first": describe_row(p, int(first_pos[k]))})
    return order


def _duplicates(p: Panel, order: np.ndarray | None, t: np.ndarray, days: np.ndarray,
                repairs: list[dict]) -> np.ndarray:
    """Sorted positions of exact duplicate (ticker, date) rows; a duplicate with other values is an error."""
    dup = np.flatnonzero((t[1:] == t[:-1]) & (days[1:] == days[:-1])) + 1
    if dup.size == 0:
        return dup
    cur = dup if order is None else order[dup]  # original row indices of each duplicate ...
    prev = dup - 1 if order is None else order[dup - 1]  # ... and of the row it repeats
    cols = {name: getattr(p, name) for name in (*_PRICES, "volume")} | dict(p.extra)
    for name, col in cols.items():
        a, b = col[prev], col[cur]
        differ = ~((a == b) | (np.isnan(a) & np.isnan(b)))
        if differ.any():
            f = int(np.flatnonzero(differ)[0])
            i, j = int(prev[f]), int(cur[f])
            raise InputError(
                f"{describe_row(p, j)}, ticker {p.tickers[int(p.ticker[j])]!r}, field {name!r}: date "
                f"{p.date[j]} appears twice with different values ({name}={_fmt(col[i])} at "
                f"{describe_row(p, i).split(' (')[0]}, {name}={_fmt(col[j])} here); keep only the correct row.")
    counts = np.bincount(t[dup], minlength=len(p.tickers))
    for k in np.flatnonzero(counts):
        j = int(cur[np.searchsorted(t[dup], k)])
        repairs.append({"action": "dropped_exact_duplicates", "ticker": p.tickers[k], "rows": int(counts[k]),
                        "first": describe_row(p, j)})
    return dup


def _intraday_error(p: Panel, multi: np.ndarray, per_day: int) -> InputError:
    """Intraday bars without resample = "daily": name the first such row in file order and the day's first bar."""
    j = _first(p, multi)
    i = j - 1
    while i > 0 and p.ticker[i - 1] == p.ticker[j] and p.date[i - 1] == p.date[j]:
        i -= 1
    return InputError(
        f"{describe_row(p, j)}, ticker {p.tickers[int(p.ticker[j])]!r}, field 'date': the input holds intraday "
        f"bars (up to {per_day} rows per day; {p.date[j]} has one at {describe_row(p, i).split(' (')[0]} and another "
        f"here), not daily ones; set resample = \"daily\" in [data] (or pass --resample daily) to aggregate them "
        f"to daily bars, or give one row per ticker and day.")


def _constant_close(p: Panel) -> np.ndarray:
    """bool [tickers]: the ticker's close is the same number on every one of its rows (and it has rows)."""
    starts = p.starts
    has = starts[1:] > starts[:-1]
    lo = np.minimum.reduceat(p.close, np.minimum(starts[:-1], len(p) - 1))
    hi = np.maximum.reduceat(p.close, np.minimum(starts[:-1], len(p) - 1))
    return has & (lo == hi)


def validate(raw: RawInput, min_rows: int, resample: str | None = None) -> Validated:
    """Check ``raw.panel`` and return it sorted by (ticker, date), deduplicated, short tickers skipped.

    Sorting, deduplication and skipping only compute an index; the panel's columns are gathered
    once per step that changes them (on 10M rows each gather of all columns costs more than every
    check together). ``resample="daily"`` aggregates intraday bars to daily ones.
    """
    p = raw.panel
    if len(p) == 0:
        raise InputError(f"{raw.description}: no data rows; the source must hold at least one ticker's prices.")
    p, no_volume = _volume_information(p)
    _check_values(p, no_volume)
    repairs: list[dict] = []
    skipped: list[dict] = []
    days = p.date.astype(np.int64)
    tod = p.extra.get("time_of_day")
    key = days if tod is None else days * 86400 + tod.astype(np.int64)  # intraday bars: sorted by their time
    order = _sort(p, key, repairs)
    t = p.ticker if order is None else p.ticker[order]
    k = key if order is None else key[order]
    dup = _duplicates(p, order, t, k, repairs)
    if dup.size or order is not None:
        idx = order if not dup.size else np.delete(np.arange(len(p)) if order is None else order, dup)
        p = p.take(idx)
    if tod is not None:
        multi, per_day = intraday_days(p)
        if multi.any():
            if resample != "daily":
                raise _intraday_error(p, multi, per_day)
            p = to_daily(p, multi, repairs, describe_row)
        p = replace(p, extra={n: v for n, v in p.extra.items() if n != "time_of_day"})
    p, weekend = weekend_rows(p)
    counts = np.bincount(p.ticker, minlength=len(p.tickers))
    keep_t = counts >= int(min_rows)
    for j in np.flatnonzero(~keep_t):
        skipped.append({"ticker": p.tickers[j], "rows": int(counts[j]), "min_rows": int(min_rows),
                        "reason": f"{int(counts[j])} rows, fewer than the {int(min_rows)} one window needs "
                                  f"(feature warm-up + look_back + look_ahead)"})
    if not keep_t.any():
        best = int(np.argmax(counts))
        raise InputError(
            f"no ticker has enough rows: each needs at least min_rows={min_rows} trading days (look_back + "
            f"look_ahead + the split gaps), but the longest, {p.tickers[best]!r}, has {int(counts[best])}; "
            f"provide a longer history or lower look_back/look_ahead.")
    constant = _constant_close(p) & keep_t
    for j in np.flatnonzero(constant):
        i = int(p.starts[j])
        skipped.append({"ticker": p.tickers[j], "rows": int(counts[j]), "constant_price": float(p.close[i]),
                        "reason": f"its close never moves ({p.close[i]:g} on all {int(counts[j])} rows, first at "
                                  f"{describe_row(p, i).split(' (')[0]}): no return to learn or predict"})
    keep_t &= ~constant
    if not keep_t.any():
        raise InputError(
            f"every ticker long enough for a window has a constant close (e.g. {p.tickers[int(np.argmax(constant))]!r} "
            f"at {p.close[int(p.starts[int(np.argmax(constant))])]:g} on every row), so there is no return "
            f"to learn; provide prices that move.")
    out = p
    if not keep_t.all():
        out = p.take(keep_t[p.ticker])
        remap = (np.cumsum(keep_t) - 1).astype(np.int32)  # old code -> new code: no ticker is left empty
        out = replace(out, tickers=[name for name, kt in zip(p.tickers, keep_t) if kt], ticker=remap[out.ticker])
    no_vol = [name for name, nv, kt in zip(p.tickers, no_volume, keep_t) if nv and kt]
    return Validated(panel=out, repairs=repairs, skipped=skipped, no_volume=no_vol, weekend_rows=weekend)
