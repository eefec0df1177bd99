"""Read price files into one raw Panel: many files at once with pyarrow, one file at a time with pandas
when pyarrow cannot read it.

The fast path reads every file's used columns with ``pyarrow.csv`` / ``pyarrow.parquet`` on a pool
of threads (the parsing releases the GIL), prices straight into float64. Whatever it cannot read
(a quoted ``"1,234,567.5"``, a ragged line, a bad encoding) that file is read again by the precise
path, pandas with every field as text, whose errors name the line. Both hand their columns as Arrow
arrays to ``parse``, which turns text into values for all files together, so both paths accept and
reject exactly the same values with the same message.

Row numbers: ``Panel.row`` is the 1-based DATA row (the first row after the header is 1); blank
lines keep their number (they are dropped after numbering).
"""
from __future__ import annotations

import io
import re
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import cached_property, partial
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from common.errors import InputError

from .columns import NUMERIC, REQUIRED, map_columns, missing_column
from .dates import parse_dates
from .dialect import Dialect, sniff
from .features import _threads as prep_threads  # one rule for prep's thread count (STOCKTUNE_PREP_THREADS)
from .filekind import DATA_SUFFIXES, csv_bytes, is_data_name, kind_of, ticker_stem, valid_name
from .lines import editor_lines, record_line
from .panel import Panel
from .parse import Origin, parse_numbers, parse_tickers

__all__ = ["SUPPORTED_EXTENSIONS", "Part", "read_files", "read_csv_precise", "panel_from_parts"]

SUPPORTED_EXTENSIONS = DATA_SUFFIXES
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_IN_MEMORY = 64 << 20  # CSV files up to this size are read into memory once (larger ones are streamed by pyarrow)
_ARROW_ERRORS = (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError, UnicodeDecodeError)


@dataclass(frozen=True)
class Part:
    """One file's used columns under their canonical names (text or typed, not yet parsed)."""

    table: pa.Table
    header_line: int  # 0 for Parquet
    columns: dict[str, str]  # canonical -> the column's name in this file
    lines: np.ndarray | None = None  # CSV: the editor line of each data row, when quoted fields span lines

    @cached_property
    def types(self) -> dict[str, str]:
        return {n: str(t) for n, t in zip(self.table.schema.names, self.table.schema.types)}


def _no_rows(name: str) -> InputError:
    return InputError(f"{name}: the file has a header but no data rows; add rows or remove the file.")


def _check_required(cols: dict[str, int], columns: list[str], name: str) -> None:
    for canon in REQUIRED:
        if canon not in cols:
            raise missing_column(name, canon, columns)


def _fast_csv(path: Path | bytes, d: Dialect, cols: dict[str, int], decimal: str | None, threads: bool) -> pa.Table:
    names = [f"f{i}" for i in range(len(d.columns))]
    types = {}
    for canon, pos in cols.items():
        text = canon in ("ticker", "date") or decimal == "," or pos in d.comma_columns
        types[names[pos]] = pa.string() if text else pa.float64()
    if "ticker" in cols:  # a long file repeats each name many times: read them as a dictionary
        types[names[cols["ticker"]]] = pa.dictionary(pa.int32(), pa.string())
    date = cols["date"]
    if date < len(d.first_row) and _ISO_DATE.match(d.first_row[date]):
        types[names[date]] = pa.date32()  # YYYY-MM-DD, the common case: no text column to build and cast
    table = pacsv.read_csv(
        pa.BufferReader(path) if isinstance(path, bytes) else path,
        read_options=pacsv.ReadOptions(column_names=names, skip_rows=d.header_line, use_threads=threads,
                                       block_size=1 << 22),
        parse_options=pacsv.ParseOptions(delimiter=d.delimiter, ignore_empty_lines=False),  # keep line numbers
        convert_options=pacsv.ConvertOptions(column_types=types, include_columns=[names[p] for p in cols.values()],
                                             strings_can_be_null=False))
    return table.rename_columns(list(cols))


def read_csv_precise(path: Path | bytes, name: str, d: Dialect, cols: dict[str, int]) -> pa.Table:
    """Every used field as text, with pandas (its errors name the line); the header row is dropped."""
    try:
        df = pd.read_csv(io.BytesIO(path) if isinstance(path, bytes) else path, sep=d.delimiter, header=None, skiprows=d.header_line - 1, dtype=str,
                         keep_default_na=False, na_filter=False, skip_blank_lines=False, encoding="utf-8-sig")
    except pd.errors.EmptyDataError:
        raise InputError(f"{name}: the file is empty; it needs a header line and at least one data row.") from None
    except pd.errors.ParserError as e:
        # pandas counts records as lines: past a quoted multi-line field, say the line an editor shows
        what = re.sub(r"in line (\d+)", lambda m: f"in line {record_line(path, d.delimiter, int(m.group(1)))}",
                      str(e).strip())
        raise InputError(f"{name}: not a readable CSV file ({what}); a value holding the delimiter "
                         f"{d.delimiter!r} must be in double quotes, e.g. \"1,234.5\".") from None
    except UnicodeDecodeError as e:
        raise InputError(f"{name}: not a readable CSV file ({e}); save it as UTF-8.") from None
    df = df.iloc[1:]
    return pa.table({canon: pa.array(df[pos].to_numpy(dtype=object), pa.string()) if pos in df.columns
                     else pa.array([""] * len(df), pa.string()) for canon, pos in cols.items()})


def _read_csv(path: Path, name: str, decimal: str | None, threads: bool, kind: str, size: int) -> Part:
    # gzip / UTF-16 (and a '.gz' name on plain text): decoded in memory, read like any other text
    # (and a name that is not UTF-8, which pyarrow cannot open by name). A file of up to _IN_MEMORY
    # bytes (a per-ticker file) is read once into memory too: the dialect sniff, the quote scan and
    # pyarrow then share its bytes instead of opening and reading the file three times.
    if kind == "memory" or path.name.lower().endswith(".gz"):
        src: Path | bytes = csv_bytes(path, name)
    elif not valid_name(path) or size <= _IN_MEMORY:
        src = path.read_bytes()
    else:
        src = path
    d = sniff(src, name)
    cols = map_columns(d.columns, d.where_header(name))
    _check_required(cols, d.columns, name)
    try:
        table = _fast_csv(src, d, cols, decimal, threads)
    except _ARROW_ERRORS:
        table = read_csv_precise(src, name, d, cols)
    return Part(table, d.header_line, {c: d.columns[p] for c, p in cols.items()}, editor_lines(src, d, table.num_rows))


def _read_parquet(path: Path, name: str, threads: bool) -> Part:
    src = path if valid_name(path) else pa.BufferReader(path.read_bytes())  # pyarrow opens UTF-8 names only
    try:
        f = pq.ParquetFile(src)
        columns = [str(c) for c in f.schema_arrow.names]
        cols = map_columns(columns, name)
        _check_required(cols, columns, name)
        if "ticker" in cols:  # a long file: its ticker names as a dictionary, not millions of strings
            f = pq.ParquetFile(src, read_dictionary=[columns[cols["ticker"]]])
        table = f.read(columns=[columns[p] for p in cols.values()], use_threads=threads)
    except InputError:
        raise
    except Exception as e:  # pyarrow raises several types for corrupt files
        raise InputError(f"{name}: not a readable Parquet file ({type(e).__name__}: {str(e)[:200]}); "
                         f"re-export it, or use CSV.") from None
    return Part(table.rename_columns(list(cols)), 0, {c: columns[p] for c, p in cols.items()})


def _read_one(path: Path, name: str, decimal: str | None, threads: bool) -> Part:
    """One file, read as what its first bytes say it is (``filekind``); its name only gates what is tried."""
    try:
        size = path.stat().st_size
        if size == 0:
            raise InputError(f"{name}: the file is empty; it needs a header line and at least one data row.")
        kind = kind_of(path, name)  # refuses workbooks, archives, other compressions, binary data
        if kind == "parquet" or path.suffix.lower() in (".parquet", ".pq"):
            return _read_parquet(path, name, threads)
        if not is_data_name(path.name):
            raise InputError(f"{name}: unsupported file type {path.suffix.lower() or '(no extension)'!r}; "
                             f"use CSV (.csv, or gzipped .csv.gz) or Parquet (.parquet).")
        return _read_csv(path, name, decimal, threads, kind, size)
    except OSError as e:  # unreadable: permissions, a file that vanished, an I/O error
        raise InputError(f"{name}: cannot read the file ({e.strerror or e}); check that it exists and that you "
                         f"may read it.") from None


def _empty(col: pa.ChunkedArray) -> pa.ChunkedArray:
    if pa.types.is_dictionary(col.type):
        col = col.cast(col.type.value_type)
    if pa.types.is_string(col.type) or pa.types.is_large_string(col.type):
        return pc.equal(pc.utf8_trim_whitespace(col), "")
    return pc.is_null(col)


def _maybe_blank(parts: list[Part]) -> set[int]:
    """The CSV parts that may hold blank lines: an empty date (one vectorized check over all files)."""
    csv = [k for k, p in enumerate(parts) if p.header_line]
    text = [k for k in csv if parts[k].types["date"] in ("string", "large_string")]
    out = set(csv) - set(text)
    if text:
        chunks = [c for k in text for c in parts[k].table.column("date").chunks]
        empty = pc.equal(pc.utf8_trim_whitespace(pa.chunked_array(chunks, type=parts[text[0]].table.column("date").type)), "")
        if pc.any(empty).as_py():
            hit = np.flatnonzero(pc.fill_null(empty, True).to_numpy(zero_copy_only=False))
            ends = np.cumsum([parts[k].table.num_rows for k in text])
            out |= {text[int(j)] for j in np.unique(np.searchsorted(ends, hit, side="right"))}
    return out


def _is_blank(part: Part) -> np.ndarray | None:
    """bool [rows] of the lines with no used field filled in (blank lines), or None when there are none."""
    t = part.table
    empty = _empty(t.column("date"))
    if not pc.any(empty).as_py():
        return None
    blank = empty
    for c in t.column_names:
        col = t.column(c)
        blank = pc.and_(blank, _empty(col))
    blank = np.asarray(pc.fill_null(blank, False).to_numpy(zero_copy_only=False))
    return blank if blank.any() else None


def _gather(parts: list[Part], idx: list[int], canon: str, starts: np.ndarray,
            origin: Origin) -> tuple[pa.ChunkedArray, Origin]:
    """Column ``canon`` of parts ``idx`` concatenated, and where its elements came from."""
    arr = pa.chunked_array([c for k in idx for c in parts[k].table.column(canon).chunks],
                           type=parts[idx[0]].table.column(canon).type)
    if len(idx) == len(parts):
        return arr, origin
    sub_starts = np.concatenate([[0], np.cumsum([starts[k + 1] - starts[k] for k in idx])]).astype(np.int64)
    sub = Origin(sub_starts, [origin.names[k] for k in idx], [origin.header_lines[k] for k in idx],
                 origin.row[_positions(starts, idx)], [origin.columns[k] for k in idx],
                 {j: origin.lines[k] for j, k in enumerate(idx) if k in origin.lines})
    return arr, sub


def _positions(starts: np.ndarray, idx: list[int]) -> np.ndarray:
    return np.concatenate([np.arange(starts[k], starts[k + 1]) for k in idx])


def _by_type(parts: list[Part], canon: str) -> list[list[int]]:
    """The parts holding column ``canon``, grouped by its Arrow type (each group is parsed in one call)."""
    groups: dict[str, list[int]] = {}
    for k, p in enumerate(parts):
        if canon in p.types:
            groups.setdefault(p.types[canon], []).append(k)
    return list(groups.values())


def _numbers(parts: list[Part], starts: np.ndarray, origin: Origin, canon: str,
             decimal: str | None) -> np.ndarray | None:
    """float64 column ``canon`` over all parts (NaN where a file lacks it), or None when no file has it."""
    groups = _by_type(parts, canon)
    if not groups:
        return None
    if len(groups) == 1 and len(groups[0]) == len(parts):  # the common case: one call, no scatter
        return parse_numbers(*_gather(parts, groups[0], canon, starts, origin), canon, decimal)
    out = np.full(int(starts[-1]), np.nan)
    for idx in groups:
        out[_positions(starts, idx)] = parse_numbers(*_gather(parts, idx, canon, starts, origin), canon, decimal)
    return out


def _dates(parts: list[Part], starts: np.ndarray, origin: Origin, date_format: str | None,
           notes: list[dict]) -> tuple[np.ndarray, np.ndarray | None]:
    """(datetime64[D], seconds since midnight or None) over all parts."""
    groups = _by_type(parts, "date")
    if len(groups) == 1:
        return parse_dates(*_gather(parts, groups[0], "date", starts, origin), "date", date_format, notes)
    n = int(starts[-1])
    date, tod = np.empty(n, "datetime64[D]"), None
    for idx in groups:
        d, t = parse_dates(*_gather(parts, idx, "date", starts, origin), "date", date_format, notes)
        pos = _positions(starts, idx)
        date[pos] = d
        if t is not None:
            tod = np.zeros(n, np.int32) if tod is None else tod
            tod[pos] = t
    return date, tod


def _tickers(parts: list[Part], starts: np.ndarray, origin: Origin) -> tuple[list[str], np.ndarray]:
    """Sorted ticker names and each row's code: a file's ticker column, or else its file name's stem."""
    groups = _by_type(parts, "ticker")
    stems = [ticker_stem(name) for name in origin.names]
    found: list[str] = []
    local: list[tuple[list[int], list[str], np.ndarray]] = []
    for idx in groups:
        names, codes = parse_tickers(*_gather(parts, idx, "ticker", starts, origin))
        local.append((idx, names, codes))
        found += names
    with_col = {k for idx in groups for k in idx}
    all_names = sorted(set(found) | {stems[k] for k in range(len(parts)) if k not in with_col})
    code_of = {t: i for i, t in enumerate(all_names)}
    file_code = np.array([code_of.get(stems[k], -1) for k in range(len(parts))], dtype=np.int32)
    out = np.repeat(file_code, np.diff(starts))
    for idx, names, codes in local:
        lut = np.array([code_of[t] for t in names], dtype=np.int32)
        if len(idx) == len(parts):
            out = lut[codes]
        else:
            out[_positions(starts, idx)] = lut[codes]
    return all_names, out.astype(np.int32, copy=False)


def _run_all(jobs: list[Callable[[], Any]]) -> list[Any]:
    """The jobs' results in order, run on the prep threads (the column conversions are Arrow and numpy
    calls that release the GIL); the first failing job in list order raises, as if run one by one."""
    workers = min(prep_threads(), len(jobs))
    if workers <= 1:
        return [job() for job in jobs]

    def guarded(job: Callable[[], Any]) -> tuple[bool, Any]:
        try:
            return True, job()
        except InputError as e:
            return False, e

    with ThreadPoolExecutor(workers, thread_name_prefix="parse") as pool:
        done = list(pool.map(guarded, jobs))
    error = next((e for ok, e in done if not ok), None)
    if error is not None:
        raise error
    return [r for _, r in done]


def read_files(paths: list[Path], names: list[str], decimal: str | None = None, date_format: str | None = None,
               notes: list[dict] | None = None) -> Panel:
    """Read ``paths`` into one raw Panel (rows in file order, not validated); each file's ticker is its
    ticker column or else its file name's stem. The first bad file in order raises its InputError.
    ``notes`` receives what was decided about the input (e.g. a column's day-first date order)."""
    workers = min(prep_threads(), len(paths))

    def one(k: int) -> Part | InputError:
        try:
            return _read_one(paths[k], names[k], decimal, threads=len(paths) == 1)
        except InputError as e:
            return e

    if workers <= 1:
        got = [one(k) for k in range(len(paths))]
    else:
        with ThreadPoolExecutor(workers, thread_name_prefix="read") as pool:
            got = list(pool.map(one, range(len(paths))))
    error = next((g for g in got if isinstance(g, InputError)), None)
    if error is not None:
        raise error
    return panel_from_parts(got, names, decimal, date_format, notes)  # type: ignore[arg-type]


def panel_from_parts(got: list[Part], names: list[str], decimal: str | None = None, date_format: str | None = None,
                     notes: list[dict] | None = None) -> Panel:
    """Parse the files' columns (all files together) into one raw Panel; blank lines are dropped here."""
    parts: list[Part] = []
    rows: list[np.ndarray] = []
    maybe = _maybe_blank(got)
    for k, g in enumerate(got):
        r = np.arange(1, g.table.num_rows + 1, dtype=np.int64)
        blank = _is_blank(g) if k in maybe else None
        if blank is not None:
            r = r[~blank]
            g = Part(g.table.filter(pa.array(~blank)), g.header_line, g.columns, g.lines)
        if g.table.num_rows == 0:
            raise _no_rows(names[k])
        parts.append(g)
        rows.append(r)
    got.clear()
    del g  # the last file's table, else kept alive past the release below
    lengths = np.array([p.table.num_rows for p in parts], dtype=np.int64)
    starts = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    line_maps = {k: p.lines for k, p in enumerate(parts) if p.lines is not None}
    origin = Origin(starts, list(names), [p.header_line for p in parts], np.concatenate(rows),
                    [p.columns for p in parts], line_maps)
    del rows
    jobs: list[Callable[[], Any]] = [partial(_numbers, parts, starts, origin, c, decimal) for c in NUMERIC]
    jobs += [partial(_dates, parts, starts, origin, date_format, [] if notes is None else notes),
             partial(_tickers, parts, starts, origin)]
    *numbers, (date, tod), (tickers, codes) = _run_all(jobs)
    cols = dict(zip(NUMERIC, numbers))
    del jobs, numbers  # the jobs hold the Arrow tables too: all must go before the pool is released below
    del parts  # the Arrow tables: only the numpy columns stay ...
    pa.default_memory_pool().release_unused()  # ... and the pool gives their memory back (else ~0.6 GB stays resident)
    extra = {k: cols[k] for k in ("adj_close", "adj_factor") if cols[k] is not None}
    if tod is not None:
        extra["time_of_day"] = tod
    volume = cols["volume"] if cols["volume"] is not None else np.full(len(date), np.nan)
    return Panel(tickers=tickers, ticker=codes, date=date, open=cols["open"], high=cols["high"], low=cols["low"],
                 close=cols["close"], volume=volume,
                 file_id=np.repeat(np.arange(len(lengths), dtype=np.int32), lengths), row=origin.row,
                 files=list(names), header_lines=origin.header_lines, extra=extra, line_maps=line_maps)
