"""How a CSV file is written: its delimiter, where its header is, and its column names as written.

Read from the first few KB only. Spreadsheet exports differ from ``pandas.to_csv`` in three common
ways, all handled here: a ``;`` or tab delimiter (European Excel, KRX/HTS exports), a first line
``sep=;`` that tells Excel the delimiter (the header is then line 2), and a UTF-8 byte-order mark.
The delimiter is the candidate that splits the header into the most known column names (so
``Date;Open;...`` with decimal commas in the rows is never taken for a comma file); ties go to the
one that splits the first rows into as many fields as the header.
"""
from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from pathlib import Path

from common.errors import InputError

from .columns import canonical

__all__ = ["Dialect", "sniff", "DELIMITERS"]

DELIMITERS = (",", ";", "\t", "|")
_SAMPLE_BYTES = 16 << 10  # the header and a few hundred rows: enough to see the delimiter and the decimal mark
_SEP_LINE = re.compile(r'^"?sep=(.|\\t)"?[,;\t|]*$', re.IGNORECASE)


@dataclass(frozen=True)
class Dialect:
    delimiter: str
    header_line: int  # 1-based line of the header: 2 after an Excel "sep=" line
    columns: list[str]  # the header's names as written (stripped), duplicates kept
    comma_columns: frozenset[int]  # positions whose values in the sample contain ',' (decimal comma or grouping)
    first_row: tuple[str, ...] = ()  # the first data row's fields, as a hint of how values are written

    def where_header(self, name: str) -> str:
        return f"{name}, line {self.header_line} (the header)"


def _fields(line: str, delimiter: str) -> list[str]:
    try:
        return next(csv.reader([line], delimiter=delimiter), [])
    except csv.Error:
        return line.split(delimiter)


def _pick_delimiter(header: str, rows: list[str]) -> str:
    best, best_score = ",", (-1, -1, 0)
    for i, d in enumerate(DELIMITERS):
        names = _fields(header, d)
        known = sum(canonical(n) is not None for n in names)
        consistent = sum(len(_fields(r, d)) == len(names) for r in rows[:5]) if len(names) > 1 else 0
        score = (known, consistent, -i)
        if score > best_score:
            best, best_score = d, score
    return best


def sniff(path: Path | bytes, name: str) -> Dialect:
    """The dialect of CSV file ``path`` (or its decoded bytes; ``name`` is how messages call it); an empty
    file is an InputError."""
    if isinstance(path, bytes):
        head = path[:_SAMPLE_BYTES]
    else:
        with open(path, "rb") as f:
            head = f.read(_SAMPLE_BYTES)
    text = head.decode("utf-8", errors="replace").lstrip("\ufeff")
    lines = text.splitlines()
    if len(head) == _SAMPLE_BYTES and len(lines) > 1:
        lines = lines[:-1]  # the last line of a truncated sample may be cut short
    if not "".join(lines).strip():
        raise InputError(f"{name}: the file is empty; it needs a header line and at least one data row.")
    header_at, forced = 0, None
    m = _SEP_LINE.match(lines[0].strip(" \r\n"))  # not strip(): "sep=<tab>" ends in whitespace
    if m:
        forced = "\t" if m.group(1) == "\\t" else m.group(1)
        header_at = 1
        if len(lines) < 2:
            raise InputError(f"{name}: the file has only the line {lines[0].strip()!r}; it needs a header line "
                             f"and at least one data row after it.")
    header, rows = lines[header_at], lines[header_at + 1:]
    delimiter = forced or _pick_delimiter(header, rows)
    columns = [c.strip() for c in _fields(header, delimiter)]
    body = "\n".join(rows)
    comma: set[int] = set()
    try:
        # a ',' inside a value: unquoted after another delimiter, quoted after a comma
        if "," in body and (delimiter != "," or '"' in body):
            for fields in csv.reader(rows, delimiter=delimiter):
                comma.update(i for i, v in enumerate(fields) if "," in v)
        first = tuple(next(csv.reader(rows[:1], delimiter=delimiter), []))
    except csv.Error:  # only hints: the readers report what is wrong with the file
        first = ()
    return Dialect(delimiter, header_at + 1, columns, frozenset(comma), first)
