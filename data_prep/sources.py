"""Read a price source (files, the bundled sample, a synthetic spec) into a raw, unvalidated Panel.

The loader only parses (``readers`` + ``parse``): it maps column aliases, parses dates and numbers,
and records for every row which file and which data row it came from, so that ``validate`` (and
later steps) can point the user at the exact line to fix. Parse failures (a missing column, a date
or number that does not parse) are raised here already, with the same file/line/field wording as
validation errors.

Row numbers: ``Panel.row`` is the 1-based DATA row (the first row after the header is 1). Messages
for CSV files say ``line N`` counting lines as an editor or ``sed -n Np`` does (the header is line 1,
or 2 after an Excel ``sep=;`` line; a quoted field spanning lines shifts the rows after it, see
``lines.editor_lines`` and ``Panel.line_maps``); Parquet files have no lines, so their messages say ``row N``.

A folder's entries are sorted out by ``folder.scan`` (read, noted or refused), a file's kind by its
first bytes (``filekind``); what was decided or left out travels in ``RawInput.notes`` to the summary.
"""
from __future__ import annotations

import hashlib
import importlib.util
import json
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from common.errors import InputError

from .columns import COLUMN_ALIASES, map_columns, norm
from .dates import parse_dates
from .dialect import Dialect
from .features import _threads as prep_threads  # one rule for prep's thread count (STOCKTUNE_PREP_THREADS)
from .filekind import shown
from .folder import scan
from .panel import Panel
from .parse import Origin, parse_numbers, row_text
from .readers import SUPPORTED_EXTENSIONS, Part, panel_from_parts, read_csv_precise, read_files
from .synthetic import GENERATOR_VERSION, generate

__all__ = ["RawInput", "load_source", "source_key", "load_events", "describe_row", "COLUMN_ALIASES",
           "SUPPORTED_EXTENSIONS", "parse_synthetic_spec"]


@dataclass(frozen=True)
class RawInput:
    """A parsed but unvalidated source: rows in file order, with provenance and a content digest."""

    panel: Panel  # NOT sorted or checked yet; Panel.file_id/row/files say where each row came from
    content_key: str  # hex digest of the input's content (file bytes / package file / synthetic spec)
    events: pd.DataFrame | None  # (ticker, date, ratio) corporate events, when the source has them
    kind: str  # 'dir' | 'file' | 'sample' | 'synthetic'
    description: str
    # what prep decided or left out while reading, for the summary and the report: a column's
    # day/month order ({"file", "date_format", "decided_by"}), a folder entry not read ({"entry", "reason"})
    notes: list[dict] = field(default_factory=list)


def describe_row(panel: Panel, i: int) -> str:
    """Where row ``i`` of ``panel`` came from, as the user would find it: 'a.csv, line 17 (data row 16; ...)'."""
    if panel.file_id is None or panel.row is None or not panel.files:
        return f"row {i + 1}"
    k = int(panel.file_id[i])
    name = panel.files[k]
    if panel.header_lines:
        header = panel.header_lines[k]
    else:
        header = 1 if name.lower().endswith(".csv") else 0
    return row_text(name, header, int(panel.row[i]), panel.line_maps.get(k))


def _digest_files(paths: list[Path], root: Path, notes: list[dict] | None = None) -> str:
    """blake2b over (relative name, size, sha256 of the bytes) of each file, in sorted name order, and
    over the folder's entries that are not read (``notes``), when there are any: the summary of a cache
    hit says what is not read in the folder as it is now (a subfolder added later is never silent).

    Hashing 400 MB of CSV is the whole cost of a cache hit for a file source: sha256 (SHA-NI on
    current x86 CPUs) takes about 60 % of blake2b's CPU time here, on a few threads (hashlib
    releases the GIL while it hashes).
    """
    rel = {p: (p.name if p == root else p.relative_to(root).as_posix()) for p in paths}
    ordered = sorted(paths, key=lambda q: rel[q])

    def one(p: Path) -> bytes:
        try:
            with open(p, "rb") as f:
                return hashlib.file_digest(f, "sha256").digest()
        except OSError as e:
            raise InputError(f"{shown(p)}: cannot read the file ({e.strerror or e}); check that it exists and that "
                             f"you may read it.") from None

    workers = min(prep_threads(), len(ordered))
    if workers > 1:
        with ThreadPoolExecutor(workers, thread_name_prefix="hash") as pool:
            digests = list(pool.map(one, ordered))
    else:
        digests = [one(p) for p in ordered]
    top = hashlib.blake2b(digest_size=20)
    for p, d in zip(ordered, digests):  # fsencode: a name that is not UTF-8 hashes as its bytes
        top.update(os.fsencode(rel[p]) + f"\0{p.stat().st_size}\0".encode() + d)
    if notes:  # only then: the keys of folders holding nothing else stay what they were
        top.update(json.dumps(notes, sort_keys=True).encode())
    return top.hexdigest()


def _dir_files(root: Path) -> tuple[list[Path], list[dict]]:
    """The data files of folder ``root`` and a note for every other entry (``folder.scan``)."""
    return scan(root)


def _load_dir(root: Path, key: str | None = None, decimal: str | None = None,
              date_format: str | None = None) -> RawInput:
    files, notes = _dir_files(root)
    key = key or _digest_files(files, root, notes)  # before reading adds its own notes
    panel = read_files(files, [shown(p) for p in files], decimal, date_format, notes)
    return RawInput(panel, key, None, "dir",
                    f"{len(files)} files in {shown(root)} ({len(panel.tickers)} tickers, {len(panel)} rows)", notes)


def _load_file(path: Path, key: str | None = None, decimal: str | None = None,
               date_format: str | None = None) -> RawInput:
    """One file: a long table with a ticker column, or one ticker's rows (its name's stem is the ticker)."""
    notes: list[dict] = []
    panel = read_files([path], [shown(path)], decimal, date_format, notes)
    return RawInput(panel, key or _digest_files([path], path), None, "file",
                    f"{shown(path)} ({len(panel.tickers)} tickers, {len(panel)} rows)", notes)


def _sample_path() -> Path:
    spec = importlib.util.find_spec("bokeh_sampledata")
    if spec is None or not spec.submodule_search_locations:
        raise InputError("source 'sample' needs the bokeh-sampledata package: pip install bokeh-sampledata.")
    path = Path(list(spec.submodule_search_locations)[0]) / "_data" / "stocks.csv.gz"
    if not path.is_file():
        raise InputError(f"source 'sample': {path} is missing; reinstall bokeh-sampledata.")
    return path


def _load_sample(key: str | None = None) -> RawInput:
    path = _sample_path()
    name = "sample (bokeh_sampledata/_data/stocks.csv.gz)"
    columns = [str(c) for c in pd.read_csv(path, nrows=0).columns]
    d = Dialect(",", 1, columns, frozenset())
    cols = map_columns(columns, d.where_header(name))
    part = Part(read_csv_precise(path, name, d, cols), 1, {c: columns[p] for c, p in cols.items()})
    panel = panel_from_parts([part], [name])
    return RawInput(panel, key or _digest_files([path], path), None, "sample",
                    f"bundled sample: daily prices of {', '.join(panel.tickers)} 2000-2013 "
                    f"(unadjusted OHLCV + Adj Close, {len(panel)} rows)")


_SYNTH_KEYS = {"tickers": int, "days": int, "seed": int, "signal": float, "pattern": float}


def parse_synthetic_spec(source: str) -> dict[str, float | int]:
    """'synthetic:tickers=N,days=D,seed=S[,signal=X][,pattern=P]' -> dict; defaults tickers=50, days=1000,
    seed=0, signal=0, pattern=0."""
    usage = ("write it as synthetic:tickers=N,days=D,seed=S[,signal=X][,pattern=P], e.g. "
             "synthetic:tickers=100,days=1500,seed=0")
    spec: dict[str, float | int] = {"tickers": 50, "days": 1000, "seed": 0, "signal": 0.0, "pattern": 0.0}
    body = source.split(":", 1)[1] if ":" in source else ""
    for item in filter(None, (s.strip() for s in body.split(","))):
        key, eq, value = item.partition("=")
        key = key.strip()
        if not eq or key not in _SYNTH_KEYS:
            raise InputError(f"synthetic source {source!r}: unknown part {item!r} (keys: "
                             f"{', '.join(_SYNTH_KEYS)}); {usage}.")
        try:
            spec[key] = _SYNTH_KEYS[key](value.strip())
        except ValueError:
            raise InputError(f"synthetic source {source!r}: {key} must be {_SYNTH_KEYS[key].__name__}, "
                             f"but got {key}={value.strip()!r}; {usage}.") from None
    if spec["tickers"] < 1 or spec["days"] < 2 or spec["seed"] < 0:
        raise InputError(f"synthetic source {source!r}: need tickers >= 1, days >= 2 and seed >= 0, but got "
                         f"tickers={spec['tickers']}, days={spec['days']}, seed={spec['seed']}.")
    return spec


def _synthetic_key(source: str) -> tuple[dict[str, float | int], str, str]:
    """(spec, normalized spec string, content key): the key needs only the spec and GENERATOR_VERSION."""
    spec = parse_synthetic_spec(source)
    norm = f"synthetic:tickers={spec['tickers']},days={spec['days']},seed={spec['seed']},signal={float(spec['signal'])!r}"
    if spec["pattern"]:  # only then: the keys of existing pattern-free markets stay what they were
        norm += f",pattern={float(spec['pattern'])!r}"
    return spec, norm, hashlib.blake2b(f"{norm}\0{GENERATOR_VERSION}".encode(), digest_size=20).hexdigest()


def _load_synthetic(source: str) -> RawInput:
    spec, norm, digest = _synthetic_key(source)
    panel, events = generate(int(spec["tickers"]), int(spec["days"]), int(spec["seed"]), float(spec["signal"]),
                             float(spec["pattern"]))
    n = len(panel)
    panel = replace(panel, file_id=np.zeros(n, dtype=np.int32), row=np.arange(1, n + 1, dtype=np.int64),
                    files=[norm], header_lines=[0])
    return RawInput(panel, digest, events, "synthetic",
                    f"{norm} ({len(panel.tickers)} tickers, {n} rows, {len(events)} planted splits)")


def _not_found(src: str) -> InputError:
    return InputError(
        f"data source {src!r} not found: pass a directory of per-ticker .csv/.parquet files, one long "
        f".csv/.parquet file with a ticker column, 'sample', or 'synthetic:tickers=N,days=D,seed=S'.")


def source_key(source: str) -> str:
    """The content key ``load_source(source)`` would return, without parsing or generating any rows.

    Files are hashed (their bytes are the content); a synthetic spec is hashed as its normalized
    text plus GENERATOR_VERSION. ``prepare`` uses it to look the cache up first, so a cache hit costs
    no parsing or market generation (only the file hashing, for file sources).
    """
    src = str(source).strip()
    if src == "sample":
        path = _sample_path()
        return _digest_files([path], path)
    if src == "synthetic" or src.startswith("synthetic:"):
        return _synthetic_key(src)[2]
    path = Path(src).expanduser()
    if path.is_dir():
        files, notes = _dir_files(path)
        return _digest_files(files, path, notes)
    if path.is_file():
        return _digest_files([path], path)
    raise _not_found(src)


def load_source(source: str, content_key: str | None = None, decimal: str | None = None,
                date_format: str | None = None) -> RawInput:
    """Parse ``source`` (a directory, a CSV/Parquet file, 'sample' or 'synthetic:...') into a RawInput.

    ``content_key``: the caller's ``source_key(source)``, reused instead of hashing the files again.
    ``decimal``: the decimal mark of text numbers ("," or "."), or None to read it from each column.
    ``date_format``: a strptime format for text dates (``[data] date_format``), or None to decide
    each file's format from its whole column (``dates``).
    """
    src = str(source).strip()
    if src == "sample":
        return _load_sample(content_key)
    if src == "synthetic" or src.startswith("synthetic:"):
        return _load_synthetic(src)
    path = Path(src).expanduser()
    if path.is_dir():
        return _load_dir(path, content_key, decimal, date_format)
    if path.is_file():
        return _load_file(path, content_key, decimal, date_format)
    raise _not_found(src)


_EVENT_ALIASES = {"ticker": COLUMN_ALIASES["ticker"], "date": COLUMN_ALIASES["date"],
                  "ratio": ("ratio", "splitratio", "split", "factor")}


def load_events(path: str | Path) -> pd.DataFrame:
    """Read a corporate-events CSV (ticker, date, ratio) -> DataFrame[ticker str, date datetime64, ratio float].

    ``ratio`` is shares after / shares before: 2 for a 2-for-1 split (the price halves), 0.1 for a
    1-for-10 reverse split (the price is multiplied by 10). ``date`` is the first trading day at the
    new price scale.
    """
    p = Path(path)
    name = str(p)
    if not p.is_file():
        raise InputError(f"events file {name} not found; give a CSV with columns ticker, date, ratio.")
    if p.stat().st_size == 0:
        raise InputError(f"{name}: the events file is empty; it needs a header ticker,date,ratio.")
    try:
        df = pd.read_csv(p, dtype=str, skip_blank_lines=False).dropna(how="all")
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as e:
        raise InputError(f"{name}: not a readable CSV file ({str(e).strip()}).") from None
    cols: dict[str, str] = {}
    for c in df.columns:
        for canon, aliases in _EVENT_ALIASES.items():
            if norm(c) in aliases and canon not in cols:
                cols[canon] = c
    for canon in ("ticker", "date", "ratio"):
        if canon not in cols:
            raise InputError(f"{name}: required column {canon!r} is missing; the columns found are: "
                             f"{', '.join(map(str, df.columns))}. Events need ticker, date, ratio.")
    origin = Origin(np.array([0, len(df)], np.int64), [name], [1], df.index.to_numpy(np.int64) + 1,
                    [{k: str(v) for k, v in cols.items()}])
    text = lambda k: pa.array(df[cols[k]].fillna("").to_numpy(dtype=object), pa.string())  # noqa: E731
    dates, _ = parse_dates(text("date"), origin, "date")
    ratio = parse_numbers(text("ratio"), origin, "ratio")
    bad = np.flatnonzero(~(ratio > 0))
    if bad.size:
        i = int(bad[0])
        raise InputError(f"{origin.where(i, 'ratio')}: ratio must be a positive number (shares after / shares "
                         f"before, 2 for a 2-for-1 split), but got {df[cols['ratio']].iloc[i]!r}.")
    return pd.DataFrame({"ticker": df[cols["ticker"]].astype(str).str.strip().to_numpy(dtype=object),
                         "date": pd.to_datetime(dates), "ratio": ratio})
