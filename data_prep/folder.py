"""Every entry of a data folder ends in the dataset, in the notes with its reason, or in an error.

A folder source used to read its ``.csv``/``.parquet`` files and pass over everything else without
a word: a dangling symbolic link made a ticker vanish, a subfolder of tickers was ignored, and the
summary said "0 skipped" (issue 20). The rule per kind of entry:

- a data file (``.csv``, ``.csv.gz``, ``.parquet``, ``.pq``; a symbolic link to one is followed) is
  read; a name that is not valid UTF-8 is read too, shown (and its ticker named) with escaped bytes;
- a symbolic link to a data name that leads nowhere is an error: it names a ticker that cannot be read;
- two data files for one ticker (``CCC.csv`` and ``CCC.parquet``) are an error: which one holds the
  prices is the user's call;
- a spreadsheet (``.xlsx``, ``.xls``, ``.ods`` ...) is an error: it most likely holds prices prep
  cannot read, and saying so beats leaving the ticker out;
- subfolders, hidden entries, other files (``README.md``, ``notes.txt``), broken links to such
  names and special files are not read, and each is listed in the notes (the summary's
  ``not read:`` line and the report).
"""
from __future__ import annotations

import os
from pathlib import Path

from common.errors import InputError

from .filekind import DATA_SUFFIXES, SPREADSHEET_SUFFIXES, is_data_name, shown, ticker_stem, valid_name

__all__ = ["scan"]


def _data_inside(path: Path) -> int:
    try:
        return sum(1 for e in os.scandir(path) if is_data_name(e.name))
    except OSError:
        return 0


def _note(path: Path, root: Path, reason: str) -> dict:
    return {"entry": shown(path.relative_to(root)), "reason": reason}


def _entry(path: Path, root: Path, files: list[Path], notes: list[dict]) -> None:
    name = path.name
    if path.is_symlink() and not path.exists():
        target = shown(os.readlink(path))
        if is_data_name(name):
            raise InputError(f"{shown(path)}: a symbolic link to {target}, which does not exist, so ticker "
                             f"{shown(ticker_stem(name))!r} cannot be read; fix the link or remove it.")
        notes.append(_note(path, root, f"a broken symbolic link (to {target})"))
    elif name.startswith("."):
        notes.append(_note(path, root, "a hidden entry"))
    elif path.is_dir():
        k = _data_inside(path)
        inside = f", holding {k} data file{'s' if k != 1 else ''}" if k else ""
        notes.append(_note(path, root, f"a subfolder{inside}: prep reads only the files directly in the folder "
                                       f"(pass the subfolder as its own source, or move its files up)"))
    elif not path.is_file():
        notes.append(_note(path, root, "not a regular file"))
    elif is_data_name(name):
        files.append(path)
        if not valid_name(name):  # read all the same; said, since the ticker's name is the escaped one
            notes.append({"name": shown(name), "ticker": shown(ticker_stem(name))})
    elif name.lower().endswith(SPREADSHEET_SUFFIXES):
        raise InputError(f"{shown(path)}: a spreadsheet workbook, which prep does not read; save it as CSV (UTF-8) "
                         f"or Parquet, or move it out of the folder.")
    else:
        notes.append(_note(path, root, f"not a data file (prep reads {', '.join(DATA_SUFFIXES)})"))


def scan(root: Path) -> tuple[list[Path], list[dict]]:
    """(data files in name order, notes {"entry", "reason"} for every entry not read); see the module docstring."""
    try:
        entries = sorted(root.iterdir(), key=lambda p: os.fsencode(p.name))
    except OSError as e:
        raise InputError(f"{shown(root)}: cannot list the folder ({e.strerror or e}).") from None
    files: list[Path] = []
    notes: list[dict] = []
    for path in entries:
        _entry(path, root, files, notes)
    if not files:
        others = ", ".join(shown(p.name) for p in entries[:5]) or "nothing"
        raise InputError(f"{shown(root)}: no .csv or .parquet files in this directory (found {others}); put one "
                         f"file per ticker named <TICKER>.csv or <TICKER>.parquet there.")
    by_ticker: dict[str, Path] = {}
    for path in files:
        stem = ticker_stem(path.name)
        if stem in by_ticker:
            raise InputError(f"{shown(by_ticker[stem])} and {shown(path)} both hold ticker {shown(stem)!r} (a file "
                             f"per ticker is named by it); keep one of them, or rename the other.")
        by_ticker[stem] = path
    return files, notes
