"""Text -> values: one rule each for numbers and tickers (dates: data_prep/dates.py), shared by every reader.

The fast reader (pyarrow, many files at once) and the precise one (pandas, one file, for files
pyarrow cannot read) hand their columns here as Arrow arrays, concatenated over files, together
with an ``Origin`` saying which file and line each element came from. So both paths accept the
same values and reject the same ones with the same message, and a decision that belongs to one
file's column (its date format, its decimal mark) is taken per file even in one vectorized call.

Numbers: ``,`` is read as the decimal mark only when the column shows it unambiguously (``99,92``,
``1.234,56``) and no value in it looks like thousands grouping; ``1,234,567.5`` keeps working as
thousands grouping. A column whose commas could be either (every one like ``1,234``) is an error
naming the ``decimal`` setting that decides it: never a silent guess.

Dates: a timestamp with a UTC offset (``2010-01-04T00:00:00+09:00``) is a bar of the exchange's
local calendar day, so the local date is kept (converting to UTC would move a Seoul or Tokyo bar to
the previous day). A column mixing offset-aware and naive values is an error.
"""
from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from common.errors import InputError

__all__ = ["Origin", "row_text", "parse_numbers", "parse_tickers", "NULL_TOKENS"]

# what pyarrow's and pandas' CSV readers both read as a missing value
NULL_TOKENS = ("", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND", "1.#QNAN",
               "N/A", "NA", "NULL", "NaN", "n/a", "nan", "null")
_AMBIGUOUS = r"^[+-]?[1-9]\d{0,2},\d{3}$"  # 1,234: thousands grouping or a decimal comma
_GROUPED = r"^[+-]?[1-9]\d{0,2}(,\d{3})+(\.\d*)?$"  # 1,234,567.5
_DECIMAL = r"^[+-]?(\d+|[1-9]\d{0,2}(\.\d{3})+),\d*$"  # 99,92 or 1.234,56
_DOT_GROUPED = r"^[+-]?[1-9]\d{0,2}(\.\d{3})+$"  # 1.234 in a decimal-comma column: 1234
_CURRENCY_SIGNS = "원円元"  # written after the number in Korea, Japan, China; not in Unicode's Sc category
_CURRENCY = rf"\p{{Sc}}|[{_CURRENCY_SIGNS}]"
_DECIMAL_HINT = ('set decimal = "," or decimal = "." in [data] (or pass --decimal , or --decimal .) '
                 "to say which")


def row_text(name: str, header_line: int, row: int, lines: np.ndarray | None = None) -> str:
    """'a.csv, line 17 (data row 16; the header is line 1)' for CSV (header_line > 0), else 'a.parquet, row 16'.

    ``lines``: the file's editor line of each data row, when quoted fields span lines (``lines.editor_lines``).
    """
    if header_line > 0 and lines is not None:
        return (f"{name}, line {int(lines[row - 1])} (data row {row}; the header is line {header_line}; quoted "
                f"fields above span several lines)")
    if header_line > 0:
        return f"{name}, line {row + header_line} (data row {row}; the header is line {header_line})"
    return f"{name}, row {row}"


@dataclass(frozen=True)
class Origin:
    """Where each element of a column concatenated over files came from, for messages."""

    starts: np.ndarray  # int64 [files + 1]: the elements of file k are starts[k]:starts[k+1]
    names: list[str]  # file name per file
    header_lines: list[int]  # per file: the CSV header's line, 0 when not a CSV (messages say 'row')
    row: np.ndarray  # int64 [n]: the 1-based data row of each element
    columns: list[dict[str, str]]  # per file: canonical name -> the column's name in that file
    lines: dict[int, np.ndarray] = field(default_factory=dict)  # per file: editor line of each data row, if not row + header

    def file_of(self, i: int) -> int:
        return int(np.searchsorted(self.starts, i, side="right")) - 1

    def where(self, i: int, canon: str) -> str:
        k = self.file_of(i)
        return f"{self._text(k, i)}, field {self.columns[k][canon]!r}"

    def line(self, i: int) -> str:
        k = self.file_of(i)
        return self._text(k, i).split(" (")[0].rsplit(", ", 1)[1]

    def _text(self, k: int, i: int) -> str:
        return row_text(self.names[k], self.header_lines[k], int(self.row[i]), self.lines.get(k))

    def segment_ids(self, idx: np.ndarray) -> np.ndarray:
        return np.searchsorted(self.starts, idx, side="right") - 1


def _np(a: pa.Array | pa.ChunkedArray, fill: bool | None = None) -> np.ndarray:
    """A numpy copy in numpy's own memory: Arrow's pool keeps freed memory for reuse, and holding the
    panel's columns there would keep the whole read's buffers resident (see readers.read_files)."""
    if fill is not None:
        a = pc.fill_null(a, fill)
    if isinstance(a, pa.ChunkedArray):
        parts = [np.asarray(c.to_numpy(zero_copy_only=False)) for c in a.chunks]
        return np.concatenate(parts) if parts else np.asarray(a.to_numpy(zero_copy_only=False))
    return np.array(a.to_numpy(zero_copy_only=False))


def _as_text(values: pa.Array | pa.ChunkedArray) -> pa.ChunkedArray:
    if isinstance(values, pa.Array):
        values = pa.chunked_array([values])
    if pa.types.is_dictionary(values.type):
        values = values.cast(values.type.value_type)
    if not (pa.types.is_string(values.type) or pa.types.is_large_string(values.type)):
        values = pc.cast(values, pa.string())
    return pc.utf8_trim_whitespace(values)


def _first(mask: np.ndarray) -> int | None:
    hit = np.flatnonzero(mask)
    return int(hit[0]) if hit.size else None


def _first_cast_failure(text: pa.ChunkedArray, to: pa.DataType) -> int:
    """Index of the first value of ``text`` that does not cast to ``to`` (the cast of all of it failed)."""
    lo, hi = 0, len(text)
    while hi - lo > 1:  # the failure is in [lo, hi): halve, keeping the half that still fails
        mid = (lo + hi) // 2
        try:
            pc.cast(text.slice(lo, mid - lo), to)
            lo = mid
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            hi = mid
    return lo


def parse_numbers(values: pa.Array | pa.ChunkedArray, origin: Origin, canon: str,
                  decimal: str | None = None) -> np.ndarray:
    """float64 [n]; missing values (empty, NA, ...) are NaN and left to validate. ``decimal``: ',' or
    '.' as set in [data], or None to read it from each file's column (see the module docstring)."""
    t = values.type
    if pa.types.is_boolean(t):
        raise InputError(f"{origin.names[0]}, field {origin.columns[0][canon]!r}: the column holds true/false "
                         f"values, not numbers.")
    if pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t):
        return _np(pc.cast(values, pa.float64()))
    text = _as_text(values)
    missing = pc.is_in(text, value_set=pa.array(NULL_TOKENS, text.type))
    text = pc.if_else(missing, pa.scalar(None, text.type), text)
    _no_currency(text, origin, canon)
    errors: list[tuple[int, str]] = []  # (row, message); the first row in file order is reported
    comma = _np(pc.match_substring(text, ","), False)
    if comma.any() or decimal == ",":
        idx = np.flatnonzero(comma)
        sub = text.take(pa.array(idx))
        amb = _np(pc.match_substring_regex(sub, _AMBIGUOUS), False)
        grouped = _np(pc.match_substring_regex(sub, _GROUPED), False) & ~amb
        dec = _np(pc.match_substring_regex(sub, _DECIMAL), False) & ~amb
        nseg = len(origin.starts) - 1
        seg = origin.segment_ids(idx)
        if decimal is None:
            def first_of(mask: np.ndarray) -> np.ndarray:  # per file: the first comma row of a kind, or -1
                out = np.full(nseg, -1, np.int64)
                k = np.flatnonzero(mask)[::-1]
                out[seg[k]] = idx[k]
                return out

            f_dec, f_grp, f_amb = first_of(dec), first_of(grouped), first_of(amb)
            reported = ((f_dec >= 0) & (f_grp >= 0)) | ((f_amb >= 0) & (f_grp < 0))  # one error per column
            for k in np.flatnonzero((f_dec >= 0) & (f_grp >= 0)):
                i, j = sorted((int(f_dec[k]), int(f_grp[k])))
                errors.append((j, f"{origin.where(j, canon)}: {_str(text, j)!r} and {_str(text, i)!r} (at "
                                  f"{origin.line(i)}) use ',' in two ways (decimal mark and thousands separator); "
                                  f"write the column one way, or {_DECIMAL_HINT}."))
            for k in np.flatnonzero((f_amb >= 0) & (f_grp < 0)):
                i = int(f_amb[k])
                v = _str(text, i)
                errors.append((i, f"{origin.where(i, canon)}: {v!r} could be {v.replace(',', '')} (',' separating "
                                  f"thousands) or {v.replace(',', '.')} (',' as the decimal mark); {_DECIMAL_HINT}."))
            comma_seg = f_dec >= 0
        else:
            comma_seg = np.full(nseg, decimal == ",")
            reported = np.zeros(nseg, dtype=bool)
        row_comma = comma_seg[seg]
        bad = np.where(row_comma, ~(dec | amb), ~(grouped | amb)) & ~reported[seg]
        if bad.any():
            i = int(idx[np.flatnonzero(bad)[0]])
            mark = "," if comma_seg[origin.file_of(i)] else "."
            errors.append((i, _bad_grouping(origin, canon, i, _str(text, i), mark, decimal)))
        if comma_seg.any():
            # dotted values in a decimal-comma column must be thousands grouping (1.234 = 1234)
            seg_rows = np.repeat(comma_seg, np.diff(origin.starts))
            dot = _np(pc.match_substring(text, "."), False) & ~comma & seg_rows
            if dot.any():
                didx = np.flatnonzero(dot)
                ok = _np(pc.match_substring_regex(text.take(pa.array(didx)), _DOT_GROUPED), False)
                if not ok.all():
                    i = int(didx[np.flatnonzero(~ok)[0]])
                    errors.append((i, _bad_grouping(origin, canon, i, _str(text, i), ",", decimal)))
            as_comma = pa.array(seg_rows)
            swapped = pc.replace_substring(pc.replace_substring(text, ".", ""), ",", ".")
            text = pc.if_else(as_comma, swapped, pc.replace_substring(text, ",", ""))
        else:
            text = pc.replace_substring(text, ",", "")
    # with an error found, only the rows before it can hold an earlier one
    head = text.slice(0, min(errors)[0]) if errors else text
    try:
        out = pc.cast(head, pa.float64())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        i = _first_cast_failure(head, pa.float64())
        errors.append((i, f"{origin.where(i, canon)}: {_str(values, i)!r} is not a number; fix or delete that row."))
        out = None
    if errors:
        raise InputError(min(errors)[1])
    return _np(out)


def _no_currency(text: pa.ChunkedArray, origin: Origin, canon: str) -> None:
    """A currency sign ('₩1,498', '$12.50', '12,50 €', '1,498원') is refused, naming the sign.

    Refused rather than stripped: without the sign '1,498' is still ambiguous (1498 or 1.498; the
    won has no decimals, the euro has), and a price column in two currencies must not be summed up
    silently. Before this check the message blamed the comma.
    """
    hit = _first(_np(pc.match_substring_regex(text, _CURRENCY), False))
    if hit is not None:
        value = _str(text, hit)
        sign = next(ch for ch in value if ch in _CURRENCY_SIGNS or unicodedata.category(ch) == "Sc")
        raise InputError(f"{origin.where(hit, canon)}: {value!r} holds the currency sign {sign!r}; prep reads plain "
                         f"numbers: write the column without it (in Excel: format the cells as Number, not Currency "
                         f"or Accounting, before saving).")


def _str(a: pa.Array | pa.ChunkedArray, i: int) -> str:
    v = a[i].as_py()
    return "" if v is None else str(v)


def _bad_grouping(origin: Origin, canon: str, i: int, value: str, mark: str, decimal: str | None) -> str:
    how = f'decimal = "{mark}" is set ([data] decimal or --decimal)' if decimal else (
        "the column has decimal commas" if mark == "," else "',' separates thousands in this column")
    other = "'.' may only separate thousands, as in 1.234,56" if mark == "," else \
        "',' may only separate thousands, as in 1,234,567.5"
    return f"{origin.where(i, canon)}: {value!r} is not a number ({how}, so {other}); fix or delete that row."


def parse_tickers(values: pa.Array | pa.ChunkedArray, origin: Origin, canon: str = "ticker") -> tuple[list[str], np.ndarray]:
    """(distinct names, int32 index of each row's name); an empty ticker is an InputError.

    A dictionary-encoded column (how the readers ask for it: a long file repeats a few thousand names
    millions of times) is checked and trimmed on its dictionary only; its rows are never turned into text.
    """
    if isinstance(values, pa.Array):
        values = pa.chunked_array([values])
    if pa.types.is_dictionary(values.type):
        values = values.unify_dictionaries()
        words = values.chunk(0).dictionary if values.num_chunks else pa.array([], pa.string())
        index = _np(pc.fill_null(pa.chunked_array([c.indices for c in values.chunks], values.type.index_type), -1))
        names = _as_text(words)
        enc = pc.dictionary_encode(names.combine_chunks())  # ' A' and 'A' are one ticker
        lut = np.append(_np(enc.indices).astype(np.int32), -1)  # index -1 (a null) stays -1
        codes = lut[index]
        blank = np.append(_np(pc.equal(names, ""), True), True)
        i = _first(blank[index])
        dictionary = enc.dictionary
    else:
        text = _as_text(values)
        i = _first(_np(pc.equal(text, ""), True))
        if i is None:
            enc = pc.dictionary_encode(text.combine_chunks())
            codes, dictionary = _np(enc.indices).astype(np.int32), enc.dictionary
    if i is not None:
        raise InputError(f"{origin.where(i, canon)}: the ticker is empty; fill it in or delete that row.")
    return [str(x) for x in dictionary.to_pylist()], codes
