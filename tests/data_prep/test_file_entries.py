"""Folder entries, file kinds by their first bytes, editor lines and currency signs (issue 20).

Each case failed before: a dangling link or a subfolder vanished without a word, a Latin-1 file name
raised UnicodeEncodeError while hashing, gzip/UTF-16/workbook bytes ended in "'date' is missing",
a quoted multi-line field shifted every later line number, and "₩1,498" blamed the comma.
"""
from __future__ import annotations

import gzip
import os
import re
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from common.errors import InputError
from data_prep.parse import Origin, parse_numbers
from data_prep.sources import load_source, source_key

ROWS = ["Date,Open,High,Low,Close,Volume"] + [f"2021-01-{d:02d},10,11,9,10.5,100" for d in range(4, 29)]
CSV = "\n".join(ROWS) + "\n"


def _folder(tmp_path: Path, names: tuple[str, ...] = ("AAA.csv", "BBB.csv")) -> Path:
    root = tmp_path / "data"
    root.mkdir(parents=True)
    for name in names:
        (root / name).write_text(CSV)
    return root


def test_a_dangling_link_to_a_data_file_is_an_error_naming_the_ticker(tmp_path):
    root = _folder(tmp_path)
    (root / "CCC.csv").symlink_to(tmp_path / "gone.csv")
    for call in (source_key, load_source):
        with pytest.raises(InputError, match=r"CCC\.csv: a symbolic link to .*gone\.csv, which does not exist, so "
                                             r"ticker 'CCC' cannot be read"):
            call(str(root))


def test_other_entries_are_noted_with_their_reason(tmp_path):
    root = _folder(tmp_path)
    (root / "sub").mkdir()
    (root / "sub" / "CCC.csv").write_text(CSV)
    (root / "README.md").write_text("x")
    (root / ".DS_Store").write_bytes(b"\0")
    (root / "old.txt").symlink_to(tmp_path / "nowhere.txt")
    raw = load_source(str(root))
    assert raw.panel.tickers == ["AAA", "BBB"]
    reasons = {n["entry"]: n["reason"] for n in raw.notes}
    assert set(reasons) == {"sub", "README.md", ".DS_Store", "old.txt"}
    assert reasons["sub"].startswith("a subfolder, holding 1 data file") and "broken" in reasons["old.txt"]


def test_a_file_name_that_is_not_utf8_is_read_and_shown_escaped(tmp_path):
    root = _folder(tmp_path, ("AAA.csv",))
    with open(os.fsencode(root) + b"/Soci\xe9t\xe9.csv", "w") as f:
        f.write(CSV)
    assert source_key(str(root))  # hashing the names used to raise UnicodeEncodeError
    raw = load_source(str(root))
    assert raw.panel.tickers == ["AAA", "Soci\\xe9t\\xe9"]
    assert raw.panel.files[1].endswith("Soci\\xe9t\\xe9.csv")
    assert raw.notes == [{"name": "Soci\\xe9t\\xe9.csv", "ticker": "Soci\\xe9t\\xe9"}]


def test_one_ticker_in_two_files_is_refused(tmp_path):
    root = _folder(tmp_path, ("AAA.csv", "CCC.csv"))
    (root / "CCC.parquet").write_bytes(b"PAR1")
    with pytest.raises(InputError, match=r"CCC\.csv and .*CCC\.parquet both hold ticker 'CCC'"):
        source_key(str(root))


@pytest.mark.parametrize("encode", [lambda t: gzip.compress(t.encode()), lambda t: t.encode("utf-16"),
                                    lambda t: t.replace(",", "\t").encode("utf-16-le"),
                                    lambda t: gzip.compress(t.encode("utf-16"))],
                         ids=["gzip", "utf16_bom", "utf16le_tab_no_bom", "gzip_utf16"])
def test_gzip_and_utf16_are_read(tmp_path, encode):
    plain = load_source(str(_folder(tmp_path / "a", ("AAA.csv",)))).panel
    root = _folder(tmp_path / "b", ())
    (root / "AAA.csv").write_bytes(encode(CSV))
    got = load_source(str(root)).panel
    np.testing.assert_array_equal(got.date, plain.date)
    np.testing.assert_array_equal(got.close, plain.close)


def test_csv_gz_is_a_data_name(tmp_path):
    root = _folder(tmp_path, ())
    (root / "AAA.csv.gz").write_bytes(gzip.compress(CSV.encode()))
    assert load_source(str(root)).panel.tickers == ["AAA"]


@pytest.mark.parametrize("data, what", [
    (b"PK\x03\x04\x14\x00[Content_Types].xml xl/workbook.xml", "Excel workbook (.xlsx)"),
    (b"PK\x03\x04\x14\x00other.txt", "zip archive"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(100), "old Excel workbook (.xls)"),
    (b"BZh91AY&SY" + bytes(50), "compressed with bzip2"),
    (bytes(range(256)) * 4, "binary data, not text"),
    (bytes(b for b in np.random.default_rng(1).bytes(150) if b), "binary data, not text"),  # short, no NUL
], ids=["xlsx", "zip", "xls", "bzip2", "binary", "short_binary_without_nul"])
def test_other_bytes_are_refused_saying_what_they_are(tmp_path, data, what):
    root = _folder(tmp_path, ("AAA.csv",))
    (root / "BBB.csv").write_bytes(data)
    with pytest.raises(InputError, match=rf"BBB\.csv: .*{what.replace('(', '[(]').replace(')', '[)]')}"):
        load_source(str(root))


def test_lines_count_as_an_editor_past_quoted_multi_line_fields(tmp_path):
    rows = [ROWS[0] + ",Note"] + [r + ',"-"' for r in ROWS[1:]]
    rows[3] = rows[3][:-3] + '"two\nlines"'
    rows[6] = rows[6][:-3] + '"three\nmore\nlines"'
    rows[20] = rows[20].replace(",10.5,", ",bad,")  # data row 20: editor line 21 + 3
    (tmp_path / "AAA.csv").write_text("\n".join(rows) + "\n")
    with pytest.raises(InputError, match=r"AAA\.csv, line 24 \(data row 20; the header is line 1; quoted fields "
                                         r"above span several lines\), field 'Close': 'bad' is not a number"):
        load_source(str(tmp_path / "AAA.csv"))


@pytest.mark.parametrize("value, sign", [("₩1,498", "₩"), ("$12.50", "$"), ("12,50 €", "€"), ("1,498원", "원")],
                         ids=["won", "dollar", "euro_after", "won_hangul"])
def test_a_currency_sign_is_named(value, sign):
    origin = Origin(np.array([0, 2]), ["a.csv"], [1], np.arange(1, 3), [{"close": "Close"}])
    with pytest.raises(InputError, match=rf"line 3 .*'{re.escape(value)}' holds the currency sign '{re.escape(sign)}'"):
        parse_numbers(pa.array(["1498", value]), origin, "close")


def test_a_ragged_line_after_a_multi_line_field_is_named_by_its_editor_line(tmp_path):
    rows = [ROWS[0] + ",Note"] + [r + ',"-"' for r in ROWS[1:]]
    rows[2] = rows[2][:-3] + '"a\nb\nc"'
    rows[9] += ",extra"  # data row 9: editor line 10 + 2 (pandas says "line 10": it counts records)
    (tmp_path / "AAA.csv").write_text("\n".join(rows) + "\n")
    with pytest.raises(InputError, match=r"AAA\.csv: not a readable CSV file \(.*Expected 7 fields in line 12, saw 8"):
        load_source(str(tmp_path / "AAA.csv"))


def test_validation_messages_count_editor_lines_too(tmp_path):
    from data_prep.validate import validate
    rows = [ROWS[0] + ",Note"] + [r + ',"-"' for r in ROWS[1:]]
    rows[2] = rows[2][:-3] + '"a\nb\nc"'
    rows[15] = rows[15].replace(",11,9,10.5,", ",11,9,12,")  # close above high on data row 15: line 16 + 2
    (tmp_path / "AAA.csv").write_text("\n".join(rows) + "\n")
    with pytest.raises(InputError, match=r"AAA\.csv, line 18 \(data row 15; .*field 'high'"):
        validate(load_source(str(tmp_path / "AAA.csv")), 1)


def test_the_key_covers_the_entries_not_read(tmp_path):
    """A cache hit reports what is not read in the folder as it is now: a subfolder added later changes the key."""
    root = _folder(tmp_path)
    plain = source_key(str(root))
    assert load_source(str(root)).content_key == plain
    (root / "sub").mkdir()
    with_sub = source_key(str(root))
    assert with_sub != plain and load_source(str(root)).content_key == with_sub
    (root / "sub").rmdir()
    assert source_key(str(root)) == plain  # a folder holding only data files keeps its key
