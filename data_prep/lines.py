"""Editor line numbers of a CSV file's data rows, when a quoted field spans several lines.

Messages say ``line N`` counting as an editor or ``sed -n Np`` does. Usually that is the data row
plus the header's line; a quoted multi-line field (a vendor's note column) shifts every later row
down, and messages used to name a line 4 above the real one (issue 20). The common case costs one
``memchr`` over the bytes looking for a double quote (no quote: no multi-line field, and the line
breaks are never counted); only a file with quotes has its line breaks counted, and only one whose
line count then disagrees with its row count is walked record by record with the csv module.
"""
from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np

from .dialect import Dialect

__all__ = ["editor_lines", "record_line"]

_CHUNK = 1 << 24


def _has_quote(src: Path | bytes) -> bool:
    """Whether the bytes hold a double quote (a memchr; a file stops being read at its first quote)."""
    if isinstance(src, bytes):
        return b'"' in src
    with open(src, "rb") as f:
        while chunk := f.read(_CHUNK):
            if b'"' in chunk:
                return True
    return False


def _breaks(src: Path | bytes) -> int:
    """The number of line breaks: '\\n', or '\\r' in a file of old Mac line ends (no '\\n' at all)."""
    if isinstance(src, bytes):
        return src.count(b"\n") or src.count(b"\r")
    lf = cr = 0
    with open(src, "rb") as f:
        while chunk := f.read(_CHUNK):
            lf += chunk.count(b"\n")
            cr += chunk.count(b"\r")
    return lf or cr


def editor_lines(src: Path | bytes, d: Dialect, rows: int) -> np.ndarray | None:
    """int64 [rows]: the editor line on which each data row starts, or None when it is the data row
    plus the header's line (no quoted field spans lines)."""
    if not _has_quote(src):  # the common case: one memchr pass, no line counting
        return None
    if _breaks(src) - d.header_line <= rows:  # no more line breaks than records: no field spans lines
        return None
    starts = _record_starts(src, d.delimiter)
    if starts is None:
        return None
    lines = np.asarray(starts[d.header_line:], dtype=np.int64)
    return lines[:rows] if len(lines) >= rows else None


def _record_starts(src: Path | bytes, delimiter: str, stop: int | None = None) -> list[int] | None:
    """The editor line on which each record (header and sep= line included) starts; None if csv cannot tell."""
    data = src if isinstance(src, bytes) else Path(src).read_bytes()
    reader = csv.reader(io.StringIO(data.decode("utf-8-sig", errors="replace"), newline=""), delimiter=delimiter)
    starts: list[int] = []
    prev = 0
    try:
        for _ in reader:
            starts.append(prev + 1)
            prev = reader.line_num
            if stop is not None and len(starts) >= stop:
                break
    except csv.Error:  # the readers report what is wrong with the file; line numbers stay plain
        return None
    return starts


def record_line(src: Path | bytes, delimiter: str, record: int) -> int:
    """The editor line of 1-based ``record`` (pandas' "line N" in its tokenizing errors counts records)."""
    if not _has_quote(src):  # no quote: records are lines
        return record
    starts = _record_starts(src, delimiter, stop=record)
    return starts[record - 1] if starts is not None and len(starts) >= record else record
