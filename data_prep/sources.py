"""Read a price source (files, the bundled sample, a synthetic spec) into a raw, unvalidated Panel.

The loader only parses: it maps column aliases, parses dates and numbers, and records for every row
which file and which data row it came from, so that ``validate`` (and later steps) can point the user
at the exact line to fix. Parse failures (a missing column, a date or number that does not parse) are
raised here already, with the same file/line/field wording as validation errors.

Row numbers: ``Panel.row`` is the 1-based DATA row (the first row after the header is 1). Messages
for CSV files say ``line N`` counting the header as line 1 (= data row + 1), which is what an editor
or ``sed -n Np`` shows; Parquet files have no lines, so their messages say ``row N`` (1-based).
"""
from __future__ import annotations

import hashlib
import importlib.util
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from common.errors import InputError
from .panel import Panel
from .synthetic import GENERATOR_VERSION, generate

__all__ = ["RawInput", "load_source", "source_key", "load_events", "describe_row", "COLUMN_ALIASES",
           "SUPPORTED_EXTENSIONS", "parse_synthetic_spec"]

SUPPORTED_EXTENSIONS = (".csv", ".parquet", ".pq")

# canonical name -> accepted spellings after normalisation (lower case, no spaces/_/-/.)
COLUMN_ALIASES: dict[str, tuple[str, ...]] = {
    "ticker": ("ticker", "symbol", "code", "tickersymbol", "stockcode", "isucd", "shcode"),
    "date": ("date", "datetime", "timestamp", "tradedate", "tradingdate", "day"),
    "open": ("open", "openprice", "o"),
    "high": ("high", "highprice", "h"),
    "low": ("low", "lowprice", "l"),
    "close": ("close", "closeprice", "closingprice", "c"),
    "volume": ("volume", "vol", "v"),
    "adj_close": ("adjclose", "adjustedclose", "adjclosingprice", "adjustedclosingprice"),
    "adj_factor": ("adjfactor", "adjustmentfactor", "adjustfactor"),
}
REQUIRED = ("date", "open", "high", "low", "close", "volume")
NUMERIC = ("open", "high", "low", "close", "volume", "adj_close", "adj_factor")
_ALIAS_TO_CANON = {alias: canon for canon, aliases in COLUMN_ALIASES.items() for alias in aliases}


@dataclass(frozen=True)
class RawInput:
    """A parsed but unvalidated source: rows in file order, with provenance and a content digest."""

    panel: Panel  # NOT sorted or checked yet; Panel.file_id/row/files say where each row came from
    content_key: str  # hex digest of the input's content (file bytes / package file / synthetic spec)
    events: pd.DataFrame | None  # (ticker, date, ratio) corporate events, when the source has them
    kind: str  # 'dir' | 'file' | 'sample' | 'synthetic'
    description: str


def _norm(name: str) -> str:
    return re.sub(r"[\s_\-.]", "", str(name).strip().lower())


def describe_row(panel: Panel, i: int) -> str:
    """Where row ``i`` of ``panel`` came from, as the user would find it: 'a.csv, line 17 (data row 16)'."""
    if panel.file_id is None or panel.row is None or not panel.files:
        return f"row {i + 1}"
    name = panel.files[int(panel.file_id[i])]
    row = int(panel.row[i])
    if name.lower().endswith(".csv"):
        return f"{name}, line {row + 1} (data row {row}; the header is line 1)"
    if name.lower().endswith(SUPPORTED_EXTENSIONS):
        return f"{name}, row {row}"
    return f"{name}, row {row}"


def _file_where(name: str, idx: int) -> str:
    """Location of 0-based data index ``idx`` in file ``name`` (same wording as describe_row)."""
    if name.lower().endswith(".csv"):
        return f"{name}, line {idx + 2} (data row {idx + 1}; the header is line 1)"
    return f"{name}, row {idx + 1}"


def _map_columns(columns: list[str], name: str) -> dict[str, str]:
    """canonical -> original column name; raises on a column named twice (e.g. 'Adj Close' and 'adj_close')."""
    found: dict[str, str] = {}
    for col in columns:
        canon = _ALIAS_TO_CANON.get(_norm(col))
        if canon is None:
            continue
        if canon in found:
            raise InputError(
                f"{name}: columns {found[canon]!r} and {col!r} both mean {canon!r}, so it is ambiguous "
                f"which to use; delete or rename one of them.")
        found[canon] = col
    return found


def _missing_column(name: str, canon: str, columns: list[str], hint: str = "") -> InputError:
    aliases = ", ".join(COLUMN_ALIASES[canon][:4])
    return InputError(
        f"{name}: required column {canon!r} is missing (accepted names, any case: {aliases}); "
        f"the columns found are: {', '.join(map(str, columns)) or '(none)'}.{hint}")


def _parse_dates(values: pd.Series, name: str, field: str) -> np.ndarray:
    """datetime64[D] from strings/ints/timestamps; the first unparseable value is an InputError."""
    if pd.api.types.is_datetime64_any_dtype(values.dtype):
        parsed = values
        if getattr(parsed.dt, "tz", None) is not None:
            parsed = parsed.dt.tz_localize(None)
    else:
        raw = values
        if pd.api.types.is_integer_dtype(values.dtype) or pd.api.types.is_float_dtype(values.dtype):
            as_int = values.astype("Int64").astype(str)  # 20200102 (KRX style) -> '20200102'
            parsed = pd.to_datetime(as_int, format="%Y%m%d", errors="coerce")
        else:
            text = values.astype("string").str.strip()
            # one format for the whole column (fast, unambiguous); the one that parses most rows wins,
            # so that a single bad value is reported instead of the whole column
            parsed, best = None, -1
            for fmt in ("ISO8601", "%Y%m%d", "%Y/%m/%d", "%Y.%m.%d", "%m/%d/%Y", "%d.%m.%Y"):
                try:
                    attempt = pd.to_datetime(text, format=fmt, errors="coerce")
                except (ValueError, TypeError):
                    continue
                ok = int(attempt.notna().sum())
                if ok > best:
                    parsed, best = attempt, ok
                if ok == int(text.notna().sum()):
                    break
            if parsed is None:
                parsed = pd.to_datetime(text, errors="coerce")
            if getattr(parsed.dt, "tz", None) is not None:
                parsed = parsed.dt.tz_convert(None)
        bad = np.flatnonzero(parsed.isna().to_numpy())
        if bad.size:
            i = int(bad[0])
            value = raw.iloc[i]
            what = "is empty" if pd.isna(value) or str(value).strip() == "" else f"{str(value)!r} is not a date"
            raise InputError(
                f"{_file_where(name, int(values.index[i]))}, field {field!r}: {what}; write dates as YYYY-MM-DD "
                f"(or YYYYMMDD), or delete that row.")
    return parsed.to_numpy().astype("datetime64[D]")


def _parse_numbers(values: pd.Series, name: str, field: str) -> np.ndarray:
    """float64; non-numeric text is an InputError (empty cells become NaN, rejected later by validate)."""
    if pd.api.types.is_bool_dtype(values.dtype):
        raise InputError(f"{name}, field {field!r}: the column holds true/false values, not numbers.")
    if pd.api.types.is_numeric_dtype(values.dtype):
        return values.to_numpy(dtype=np.float64, na_value=np.nan)
    text = values.astype("string").str.strip().str.replace(",", "", regex=False)  # '1,234' thousands
    num = pd.to_numeric(text.replace("", pd.NA), errors="coerce")
    bad = np.flatnonzero((num.isna() & text.notna() & (text != "")).to_numpy())
    if bad.size:
        i = int(bad[0])
        raise InputError(
            f"{_file_where(name, int(values.index[i]))}, field {field!r}: {str(values.iloc[i])!r} is not a number; "
            f"fix or delete that row.")
    return num.to_numpy(dtype=np.float64, na_value=np.nan)


def _read_frame(path: Path, name: str) -> pd.DataFrame:
    """Read one file as a DataFrame whose index is the 0-based data row (blank CSV lines keep their number)."""
    ext = path.suffix.lower()
    if ext not in SUPPORTED_EXTENSIONS:
        raise InputError(f"{name}: unsupported file type {ext or '(no extension)'!r}; "
                         f"use CSV (.csv) or Parquet (.parquet).")
    if path.stat().st_size == 0:
        raise InputError(f"{name}: the file is empty; it needs a header line and at least one data row.")
    if ext == ".csv":
        try:
            header = pd.read_csv(path, nrows=0)
            cols = _map_columns([str(c) for c in header.columns], name)
            # tickers and dates as text: '005930' must keep its zeros; dates are parsed by us
            dtype = {cols[k]: str for k in ("ticker", "date") if k in cols}
            df = pd.read_csv(path, dtype=dtype, skip_blank_lines=False)
        except pd.errors.EmptyDataError:
            raise InputError(f"{name}: the file is empty; it needs a header line and at least one data row.") from None
        except (pd.errors.ParserError, UnicodeDecodeError) as e:
            raise InputError(f"{name}: not a readable CSV file ({str(e).strip()}); check its delimiter "
                             f"(a comma) and encoding (UTF-8).") from None
        df = df.dropna(how="all")  # blank lines: skipped, but the other rows keep their line numbers
    else:
        try:
            df = pd.read_parquet(path)
        except Exception as e:  # pyarrow raises several types for corrupt files
            raise InputError(f"{name}: not a readable Parquet file ({type(e).__name__}: {str(e)[:200]}); "
                             f"re-export it, or use CSV.") from None
        if df.index.name is not None or not isinstance(df.index, pd.RangeIndex):
            df = df.reset_index()  # e.g. a pandas frame saved with Date as its index
        df = df.reset_index(drop=True)
    if len(df) == 0:
        raise InputError(f"{name}: the file has a header but no data rows; add rows or remove the file.")
    return df


def _frame_columns(df: pd.DataFrame, name: str, ticker: str | None, file_id: int,
                   long_hint: str) -> dict[str, np.ndarray]:
    """Parse one file's frame into raw columns (+ 'ticker_names', 'row', 'file_id')."""
    columns = [str(c) for c in df.columns]
    cols = _map_columns(columns, name)
    for canon in REQUIRED:
        if canon not in cols:
            raise _missing_column(name, canon, columns)
    if ticker is None and "ticker" not in cols:
        raise _missing_column(name, "ticker", columns, long_hint)
    out: dict[str, np.ndarray] = {"date": _parse_dates(df[cols["date"]], name, cols["date"])}
    for canon in NUMERIC:
        if canon in cols:
            out[canon] = _parse_numbers(df[cols[canon]], name, cols[canon])
    if "ticker" in cols:
        names = df[cols["ticker"]].astype("string").str.strip()
        empty = np.flatnonzero((names.isna() | (names == "")).to_numpy())
        if empty.size:
            raise InputError(f"{_file_where(name, int(df.index[int(empty[0])]))}, field {cols['ticker']!r}: the ticker is "
                             f"empty; fill it in or delete that row.")
        out["ticker_names"] = names.to_numpy(dtype=object)
    else:
        out["ticker_names"] = np.full(len(df), ticker, dtype=object)
    out["row"] = df.index.to_numpy(dtype=np.int64) + 1
    out["file_id"] = np.full(len(df), file_id, dtype=np.int32)
    return out


def _panel_from_parts(parts: list[dict[str, np.ndarray]], files: list[str]) -> Panel:
    cat = lambda k: np.concatenate([p[k] for p in parts])  # noqa: E731
    names = cat("ticker_names").astype(str)
    tickers, codes = np.unique(names, return_inverse=True)
    extra = {}
    for k in ("adj_close", "adj_factor"):
        if any(k in p for p in parts):
            extra[k] = np.concatenate([p.get(k, np.full(len(p["date"]), np.nan)) for p in parts])
    return Panel(tickers=[str(t) for t in tickers], ticker=codes.astype(np.int32), date=cat("date"),
                 open=cat("open"), high=cat("high"), low=cat("low"), close=cat("close"), volume=cat("volume"),
                 file_id=cat("file_id"), row=cat("row"), files=files, extra=extra)


def _digest_files(paths: list[Path], root: Path) -> str:
    """blake2b over (relative name, size, bytes) of each file, streamed, in sorted name order."""
    h = hashlib.blake2b(digest_size=20)
    for p in sorted(paths, key=lambda q: q.relative_to(root).as_posix() if root != q else q.name):
        rel = p.name if p == root else p.relative_to(root).as_posix()
        h.update(f"{rel}\0{p.stat().st_size}\0".encode())
        with open(p, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
    return h.hexdigest()


def _dir_files(root: Path) -> list[Path]:
    entries = sorted(p for p in root.iterdir() if p.is_file() and not p.name.startswith("."))
    files = [p for p in entries if p.suffix.lower() in SUPPORTED_EXTENSIONS]
    if not files:
        others = ", ".join(p.name for p in entries[:5]) or "nothing"
        raise InputError(f"{root}: no .csv or .parquet files in this directory (found {others}); put one "
                         f"file per ticker named <TICKER>.csv or <TICKER>.parquet there.")
    return files


def _load_dir(root: Path, key: str | None = None) -> RawInput:
    files = _dir_files(root)
    names = [str(p) for p in files]
    parts = [_frame_columns(_read_frame(p, n), n, p.stem, i, "") for i, (p, n) in enumerate(zip(files, names))]
    panel = _panel_from_parts(parts, names)
    return RawInput(panel, key or _digest_files(files, root), None, "dir",
                    f"{len(files)} files in {root} ({len(panel.tickers)} tickers, {len(panel)} rows)")


def _load_file(path: Path, key: str | None = None) -> RawInput:
    name = str(path)
    hint = (" A single file must be a long table with a ticker column (Ticker, Symbol or Code); for one "
            "ticker per file, put the files in a directory named <TICKER>.csv and pass the directory.")
    part = _frame_columns(_read_frame(path, name), name, None, 0, hint)
    panel = _panel_from_parts([part], [name])
    return RawInput(panel, key or _digest_files([path], path), None, "file",
                    f"{name} ({len(panel.tickers)} tickers, {len(panel)} rows)")


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
    df = pd.read_csv(path, dtype={"Ticker": str, "Date": str})
    part = _frame_columns(df, name, None, 0, "")
    panel = _panel_from_parts([part], [name])
    return RawInput(panel, key or _digest_files([path], path), None, "sample",
                    f"bundled sample: daily prices of {', '.join(panel.tickers)} 2000-2013 "
                    f"(unadjusted OHLCV + Adj Close, {len(panel)} rows)")


_SYNTH_KEYS = {"tickers": int, "days": int, "seed": int, "signal": float}


def parse_synthetic_spec(source: str) -> dict[str, float | int]:
    """'synthetic:tickers=N,days=D,seed=S[,signal=X]' -> dict; defaults tickers=50, days=1000, seed=0, signal=0."""
    usage = ("write it as synthetic:tickers=N,days=D,seed=S[,signal=X], e.g. "
             "synthetic:tickers=100,days=1500,seed=0")
    spec: dict[str, float | int] = {"tickers": 50, "days": 1000, "seed": 0, "signal": 0.0}
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
    return spec, norm, hashlib.blake2b(f"{norm}\0{GENERATOR_VERSION}".encode(), digest_size=20).hexdigest()


def _load_synthetic(source: str) -> RawInput:
    spec, norm, digest = _synthetic_key(source)
    panel, events = generate(int(spec["tickers"]), int(spec["days"]), int(spec["seed"]), float(spec["signal"]))
    n = len(panel)
    from dataclasses import replace
    panel = replace(panel, file_id=np.zeros(n, dtype=np.int32), row=np.arange(1, n + 1, dtype=np.int64),
                    files=[norm])
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
        return _digest_files(_dir_files(path), path)
    if path.is_file():
        return _digest_files([path], path)
    raise _not_found(src)


def load_source(source: str, content_key: str | None = None) -> RawInput:
    """Parse ``source`` (a directory, a CSV/Parquet file, 'sample' or 'synthetic:...') into a RawInput.

    ``content_key``: the caller's ``source_key(source)``, reused instead of hashing the files again.
    """
    src = str(source).strip()
    if src == "sample":
        return _load_sample(content_key)
    if src == "synthetic" or src.startswith("synthetic:"):
        return _load_synthetic(src)
    path = Path(src).expanduser()
    if path.is_dir():
        return _load_dir(path, content_key)
    if path.is_file():
        return _load_file(path, content_key)
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
            if _norm(c) in aliases and canon not in cols:
                cols[canon] = c
    for canon in ("ticker", "date", "ratio"):
        if canon not in cols:
            raise InputError(f"{name}: required column {canon!r} is missing; the columns found are: "
                             f"{', '.join(map(str, df.columns))}. Events need ticker, date, ratio.")
    dates = _parse_dates(df[cols["date"]], name, cols["date"])
    ratio = _parse_numbers(df[cols["ratio"]], name, cols["ratio"])
    bad = np.flatnonzero(~(ratio > 0))
    if bad.size:
        i = int(bad[0])
        raise InputError(f"{_file_where(name, int(df.index[i]))}, field {cols['ratio']!r}: ratio must be a positive "
                         f"number (shares after / shares before, 2 for a 2-for-1 split), but got "
                         f"{df[cols['ratio']].iloc[i]!r}.")
    return pd.DataFrame({"ticker": df[cols["ticker"]].astype(str).str.strip().to_numpy(dtype=object),
                         "date": pd.to_datetime(dates), "ratio": ratio})
