"""What a price file really is, from its first bytes, and the names prep shows for files.

A file's name says little: Excel saves "Unicode text" as UTF-16, vendors ship ``.csv.gz``, and a
workbook or an archive renamed ``prices.csv`` used to end in "required column 'date' is missing"
with binary bytes as the column list (issue 20). So the first bytes decide: plain text is read as it
is; gzip and UTF-16 (with or without a byte-order mark) are cheap to undo and are read, in memory;
Parquet bytes are read as Parquet whatever the name; a zip archive (an ``.xlsx`` workbook is one),
an old Excel/Office file, other compressions and binary data are refused, saying what they are and
what to do.

File names that are not valid UTF-8 (a Latin-1 ``Soci\\xe9t\\xe9.csv``) are shown with their bytes
escaped (``shown``), so a message can always be printed and a report always written.
"""
from __future__ import annotations

import gzip
import os
import zlib
from pathlib import Path

from common.errors import InputError

__all__ = ["DATA_SUFFIXES", "SPREADSHEET_SUFFIXES", "shown", "valid_name", "ticker_stem", "is_data_name", "csv_bytes", "kind_of"]

DATA_SUFFIXES = (".csv", ".csv.gz", ".parquet", ".pq")
SPREADSHEET_SUFFIXES = (".xlsx", ".xlsm", ".xls", ".ods", ".numbers")
_HEAD = 8192
_SAVE_CSV = "save it as CSV (UTF-8) or Parquet"


def shown(path: str | Path) -> str:
    """``path`` as text that can be printed: bytes that are not UTF-8 appear as \\xe9."""
    return os.fsencode(path).decode("utf-8", "backslashreplace")


def valid_name(path: str | Path) -> bool:
    try:
        os.fsdecode(os.fsencode(path)).encode("utf-8")
        return True
    except UnicodeEncodeError:
        return False


def ticker_stem(name: str | Path) -> str:
    """The ticker a per-ticker file names: 'AAA.csv' and 'AAA.csv.gz' -> 'AAA'."""
    base = Path(name).name
    low = base.lower()
    for suffix in sorted(DATA_SUFFIXES, key=len, reverse=True):
        if low.endswith(suffix):
            return base[: -len(suffix)]
    return Path(base).stem


def is_data_name(name: str) -> bool:
    return name.lower().endswith(DATA_SUFFIXES)


def _utf16(head: bytes) -> str | None:
    """'utf-16' (with a BOM), 'utf-16-le' / 'utf-16-be' (without: every other byte NUL), or None."""
    if head[:2] in (b"\xff\xfe", b"\xfe\xff"):
        return "utf-16"
    sample = head[:2000]
    if len(sample) >= 8:
        even, odd = sample[0::2], sample[1::2]
        if odd.count(0) > 0.4 * len(odd) and even.count(0) < 0.05 * len(even):
            return "utf-16-le"
        if even.count(0) > 0.4 * len(even) and odd.count(0) < 0.05 * len(odd):
            return "utf-16-be"
    return None


_CONTROL = bytes(b for b in range(32) if b not in (9, 10, 12, 13)) + b"\x7f"


def _binary(head: bytes) -> bool:
    """NUL bytes, or more control bytes than text ever holds (random data: about 1 in 8 bytes; text in any
    8-bit encoding, Latin-1 or CP949 included: none). Short random files need not hold a NUL."""
    if b"\x00" in head:
        return True
    control = len(head) - len(head.translate(None, _CONTROL))
    return control >= max(2, 0.02 * len(head))


def _refused(name: str, head: bytes) -> InputError | None:
    """The refusal for bytes prep does not read (what they are, what to do), or None for text/gzip/Parquet."""
    if head.startswith(b"PK\x03\x04") or head.startswith(b"PK\x05\x06"):
        if b"[Content_Types].xml" in head or b"xl/" in head:
            return InputError(f"{name}: this is an Excel workbook (.xlsx), not a CSV file; open it in Excel and "
                              f"{_SAVE_CSV} (one sheet: File > Save As > CSV UTF-8).")
        if b"mimetype" in head and b"opendocument" in head:
            return InputError(f"{name}: this is an OpenDocument spreadsheet (.ods), not a CSV file; {_SAVE_CSV}.")
        return InputError(f"{name}: this is a zip archive, not a CSV file; unzip it and point --data at the files "
                          f"inside.")
    if head.startswith(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"):
        return InputError(f"{name}: this is an old Excel workbook (.xls) or another Office file, not a CSV file; "
                          f"open it in Excel and {_SAVE_CSV}.")
    for magic, what, tool in ((b"BZh", "bzip2", "bunzip2"), (b"\xfd7zXZ\x00", "xz", "unxz"),
                              (b"\x28\xb5\x2f\xfd", "zstd", "unzstd"), (b"7z\xbc\xaf\x27\x1c", "7-Zip", "7z x"),
                              (b"Rar!", "RAR", "unrar x")):
        if head.startswith(magic):
            return InputError(f"{name}: this file is compressed with {what}, which prep does not read; decompress "
                              f"it ({tool} {name}) or recompress it with gzip (.csv.gz is read as it is).")
    if head.startswith(b"%PDF"):
        return InputError(f"{name}: this is a PDF document, not a CSV file; export the prices as CSV.")
    if _utf16(head) is None and _binary(head):
        return InputError(f"{name}: this is binary data, not text (first bytes: {head[:8].hex(' ')}); is it the right "
                          f"file? Give prices as CSV (UTF-8) or Parquet.")
    return None


def kind_of(path: Path, name: str) -> str:
    """'parquet', 'csv' (plain text, read from the file) or 'memory' (gzip/UTF-16: read via ``csv_bytes``);
    anything else is an InputError saying what the file is."""
    with open(path, "rb") as f:
        head = f.read(_HEAD)
    if head.startswith(b"PAR1"):
        return "parquet"
    if head.startswith(b"\x1f\x8b"):
        return "memory"
    error = _refused(name, head)
    if error is not None:
        raise error
    return "memory" if _utf16(head) else "csv"


def csv_bytes(path: Path, name: str) -> bytes:
    """The UTF-8 text of a gzip-compressed and/or UTF-16 CSV file, decoded in memory."""
    data = path.read_bytes()
    if data.startswith(b"\x1f\x8b"):
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError, zlib.error) as e:
            raise InputError(f"{name}: a gzip file that does not decompress ({e}); compress it again or give the "
                             f"plain CSV.") from None
        if data.startswith(b"PAR1"):
            raise InputError(f"{name}: a gzip-compressed Parquet file; decompress it (gunzip) and name it .parquet "
                             f"(Parquet compresses its own columns).")
        error = _refused(name + " (decompressed)", data[:_HEAD])
        if error is not None:
            raise error
    enc = _utf16(data[:_HEAD])
    if enc is not None:
        try:
            data = data.decode(enc).lstrip("\ufeff").encode("utf-8")
        except UnicodeDecodeError as e:
            raise InputError(f"{name}: looks like UTF-16 text but does not decode as it ({e}); save it as CSV "
                             f"UTF-8.") from None
    return data
