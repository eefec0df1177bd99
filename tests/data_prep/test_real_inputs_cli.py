"""Real-world input files through `stocktune prep` (a subprocess per case, as users run it).

Each accepted variant (time zones, decimal commas, delimiters, Excel exports, intraday bars with
``--resample daily``, ...) must give exactly the dataset the plain file gives: same dates, tickers and
features. Each rejected one must exit 2 with one line naming the file, the line and the field/column
and saying what to do, and write nothing: no --out directory, no cache entry. The subprocesses run
a few at a time, started once per module (issue 12, items 1-10).
"""
from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from _files import CODES, bars, text, write_dir
from cli_run import cli_command, cli_env

CONFIG = "[data]\nlook_back = 5\nlook_ahead = 1\n"
M = bars(days=300, seed=1)  # prices with 2 decimals: '50,12' can only be a decimal comma
M3 = bars(days=300, seed=2, decimals=3, level=5.0)  # 3 decimals: '5,123' could be 5123 or 5.123
first_ticker_file = f"{CODES[0]}.csv"


@dataclass(frozen=True)
class Run:
    id: str
    write: Callable[[Path], Path]  # writes the input under a fresh directory, returns the SOURCE
    args: tuple[str, ...] = ()
    config: str = CONFIG
    needles: tuple[str, ...] = ()  # rejected: all in the one-line message (case-insensitive)
    same_as: str | None = None  # accepted: must give this run's dataset
    stdout: tuple[str, ...] = ()  # accepted: in the printed summary
    check: Callable[[dict, dict, Path], None] | None = field(default=None, compare=False)  # (report, meta, dataset)


def _long(df: pd.DataFrame, name: str = "prices.csv", **kw) -> Callable[[Path], Path]:
    def write(d: Path) -> Path:
        (d / name).write_text(text(df, **kw))
        return d / name
    return write


def _dir(df: pd.DataFrame, fmt: str = "csv", edit: Callable[[Path], None] | None = None, **kw) -> Callable[[Path], Path]:
    def write(d: Path) -> Path:
        write_dir(df, d / "data", fmt, **kw)
        if edit is not None:
            edit(d / "data")
        return d / "data"
    return write


def _replace_line(name: str, line: int, new: str) -> Callable[[Path], None]:
    def edit(root: Path) -> None:
        lines = (root / name).read_text().splitlines()
        lines[line - 1] = new(lines[line - 1]) if callable(new) else new
        (root / name).write_text("\n".join(lines) + "\n")
    return edit


def _parquet_offset(d: Path) -> Path:
    """Per-ticker Parquet files whose Date column is tz-aware: local midnight at +09:00."""
    root = d / "data"
    root.mkdir()
    for code, g in M.groupby("Ticker"):
        g = g.drop(columns="Ticker").assign(Date=g["Date"].dt.tz_localize("+09:00"))
        g.to_parquet(root / f"{code}.parquet", index=False)
    return root


def _duplicate(header: str, parquet: bool = False) -> Callable[[Path], Path]:
    def write(d: Path) -> Path:
        root = d / "data"
        root.mkdir()
        g = M[M.Ticker == CODES[0]].drop(columns="Ticker")
        if parquet:
            import pyarrow as pa
            import pyarrow.parquet as pq
            cols = [pa.array(g[c]) for c in g.columns] + [pa.array(g["Close"] * 2)]
            pq.write_table(pa.table(cols, names=[*g.columns, header]), root / f"{CODES[0]}.parquet")
        else:
            body = text(g.reset_index(drop=True), ticker=False).splitlines()
            body = [body[0] + "," + header] + [row + ",1" for row in body[1:]]
            (root / f"{CODES[0]}.csv").write_text("\n".join(body) + "\n")
        return root
    return write


def _intraday(d: Path) -> Path:
    """Three bars a day whose daily aggregate is M: (O, max(O,C), min(O,C), C), (C, H, L, C), (C, C, C, C)."""
    root = d / "data"
    root.mkdir()
    for code, g in M.groupby("Ticker"):
        rows = ["Datetime,Open,High,Low,Close,Volume"]
        for r in g.itertuples():
            day = r.Date.strftime("%Y-%m-%d")
            v1, v2 = r.Volume // 3, r.Volume // 3
            rows += [f"{day} 09:00:00,{r.Open:.2f},{max(r.Open, r.Close):.2f},{min(r.Open, r.Close):.2f},{r.Close:.2f},{v1}",
                     f"{day} 12:00:00,{r.Close:.2f},{r.High:.2f},{r.Low:.2f},{r.Close:.2f},{v2}",
                     f"{day} 15:30:00,{r.Close:.2f},{r.Close:.2f},{r.Close:.2f},{r.Close:.2f},{r.Volume - v1 - v2}"]
        (root / f"{code}.csv").write_text("\n".join(rows) + "\n")
    return root


def _accounting(d: Path) -> Path:
    """M plus a ticker too short for one window and one whose every window touches a long halt."""
    root = write_dir(M, d / "data")
    g = M[M.Ticker == CODES[0]].reset_index(drop=True)
    (root / "SHORT.csv").write_text(text(g.iloc[:50], ticker=False))
    halted = g.copy()
    halted.loc[(np.arange(len(g)) % 10) < 6, "Volume"] = 0  # 6 halted days in every 10: no 6-row window fits
    (root / "HALTED.csv").write_text(text(halted, ticker=False))
    return root


def _coarse_tick(d: Path) -> Path:
    """One stock on a coarse tick: the price rarely moves, so many 1-day returns are exactly 0."""
    rng = np.random.default_rng(3)
    n = 1500
    c = np.maximum(np.round(20 * np.exp(np.cumsum(rng.normal(0, 0.01, n))) / 0.5) * 0.5, 0.5)
    o = np.r_[c[0], c[:-1]]
    df = pd.DataFrame({"Ticker": "TICK", "Date": pd.bdate_range("2005-01-03", periods=n), "Open": o,
                       "High": np.maximum(o, c) + 0.5, "Low": np.maximum(np.minimum(o, c) - 0.5, 0.25), "Close": c,
                       "Volume": rng.integers(1000, 5000, n)})
    (d / "tick.csv").write_text(text(df))
    return d / "tick.csv"


def _one_file(d: Path) -> Path:
    (d / "AAPL.csv").write_text(text(M[M.Ticker == CODES[1]].reset_index(drop=True), ticker=False))
    return d / "AAPL.csv"


def _one_file_dir(d: Path) -> Path:
    (d / "data").mkdir()
    _one_file(d / "data")
    return d / "data"


def _mixed_offsets(d: Path) -> Path:
    lines = text(M, offset="+09:00").splitlines()
    lines[7] = lines[7].replace("T00:00:00+09:00", "")  # line 8: the only naive timestamp
    (d / "prices.csv").write_text("\n".join(lines) + "\n")
    return d / "prices.csv"


def _reversed_with_duplicates(root: Path) -> None:
    """The first ticker's rows in reverse date order, two of them written twice."""
    lines = (root / first_ticker_file).read_text().splitlines()
    (root / first_ticker_file).write_text("\n".join([lines[0], *lines[1:][::-1], *lines[10:12]]) + "\n")


def _skipped(names: set[str]) -> Callable[[dict, dict, Path], None]:
    def check(report: dict, meta: dict, path: Path) -> None:
        reasons = {s["ticker"]: s["reason"] for s in report["skipped"]}
        assert set(reasons) == names and report["tickers_in_input"] == report["n_tickers"] + len(names)
        assert "fewer than" in reasons["SHORT"] and "halt" in reasons["HALTED"]
    return check


def _no_volume(report: dict, meta: dict, path: Path) -> None:
    assert report["no_volume"] == list(CODES) and report["n_tickers"] == 3
    features = np.load(path / "features.npy")
    for name in ("log_volume_change", "volume_ratio_20"):  # neutral: 0 after scaling, on every row
        assert not features[:, meta["feature_names"].index(name)].any(), name
    assert np.abs(features).sum() > 0  # the other features are there


def _resampled(report: dict, meta: dict, path: Path) -> None:
    (r,) = [r for r in report["repairs"] if r["ticker"] == CODES[0]]
    assert r["action"] == "resampled_daily" and r["bars"] == 900 and r["days"] == 300


def _uniform_ties(report: dict, meta: dict, path: Path) -> None:
    assert report["target_method"] == "ecdf"
    assert report["splits"]["train"]["target_ks_stat"] <= 0.02, report["splits"]["train"]


def _named_three(ticker: str) -> Callable[[dict, dict, Path], None]:
    def check(report: dict, meta: dict, path: Path) -> None:
        assert meta["tickers"] == [*CODES[:2], ticker] and report["n_tickers"] == 3
    return check


def _named(ticker: str) -> Callable[[dict, dict, Path], None]:
    def check(report: dict, meta: dict, path: Path) -> None:
        assert meta["tickers"] == [ticker]
    return check


# --- issue 20 (second sweep): dates, folder entries, file kinds, line numbers, currency, TOML BOM ---

def _redate(fmt: str, from_line: int = 2) -> Callable[[Path], None]:
    """Every file's dates (first field) rewritten with strftime ``fmt`` from editor line ``from_line`` on."""
    def edit(root: Path) -> None:
        for f in sorted(root.glob("*.csv")):
            lines = f.read_text().splitlines()
            for k in range(from_line - 1, len(lines)):
                day, rest = lines[k].split(",", 1)
                lines[k] = pd.Timestamp(day).strftime(fmt) + "," + rest
            f.write_text("\n".join(lines) + "\n")
    return edit


def _early_days(d: Path) -> Path:
    """Only the 1st to the 12th of each month, written DD/MM/YYYY: no field above 12 says which is the day."""
    long = bars(days=700, seed=1)  # ~12 of every 22 trading days kept: enough rows for the windows
    return _dir(long[long.Date.dt.day <= 12], edit=_redate("%d/%m/%Y"))(d)


def _dangling(root: Path) -> None:
    (root / f"{CODES[2]}.csv").unlink()
    (root / f"{CODES[2]}.csv").symlink_to(root / "gone" / f"{CODES[2]}.csv")


def _latin1_name(root: Path) -> None:
    import os
    os.rename(root / f"{CODES[2]}.csv", os.fsencode(root) + b"/Soci\xe9t\xe9.csv")


def _subfolder(root: Path) -> None:
    (root / "more").mkdir()
    (root / f"{CODES[2]}.csv").rename(root / "more" / f"{CODES[2]}.csv")
    (root / "README.md").write_text("prices from the vendor\n")


def _also_parquet(root: Path) -> None:
    M[M.Ticker == CODES[2]].drop(columns="Ticker").to_parquet(root / f"{CODES[2]}.parquet", index=False)


def _recode(how: Callable[[bytes], bytes], suffix: str = ".csv") -> Callable[[Path], None]:
    def edit(root: Path) -> None:
        for f in sorted(root.glob("*.csv")):
            data = how(f.read_bytes())
            f.unlink()
            f.with_name(f.stem + suffix).write_bytes(data)
    return edit


def _utf16_tab(data: bytes) -> bytes:  # Excel's "Unicode text": UTF-16 with a BOM, tab-delimited
    return data.decode().replace(",", "\t").replace("\n", "\r\n").encode("utf-16")


def _xlsx(data: bytes) -> bytes:
    import io
    import zipfile
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("[Content_Types].xml", "<Types/>")
        z.writestr("xl/workbook.xml", "<workbook/>")
    return buf.getvalue()


def _first_file(how: Callable[[bytes], bytes]) -> Callable[[Path], None]:
    def edit(root: Path) -> None:
        f = root / first_ticker_file
        f.write_bytes(how(f.read_bytes()))
    return edit


def _gzip_long(d: Path) -> Path:
    import gzip
    (d / "prices.csv.gz").write_bytes(gzip.compress(text(M).encode()))
    return d / "prices.csv.gz"


def _notes_then_bad_row(root: Path) -> None:
    """A quoted note column whose notes span lines (3 extra lines above), then a bad close on data row 300."""
    f = root / first_ticker_file
    lines = f.read_text().splitlines()
    lines[0] += ",Note"
    for k in range(1, len(lines)):
        lines[k] += ',"ok"'
    lines[10] = lines[10][:-4] + '"dividend\nex-date"'
    lines[200] = lines[200][:-4] + '"split 2:1\nsee\nfiling"'
    fields = lines[300].split(",")
    fields[4] = "n.a."
    lines[300] = ",".join(fields)
    f.write_text("\n".join(lines) + "\n")


def _won(line: str) -> str:
    fields = line.split(",")
    fields[4] = '"\u20a91,498"'
    return ",".join(fields)


def _has_notes(entries: dict[str, str]) -> Callable[[dict, dict, Path], None]:
    def check(report: dict, meta: dict, path: Path) -> None:
        got = {n["entry"]: n["reason"] for n in report["input_notes"] if "entry" in n}
        assert set(got) == set(entries), got
        for k, v in entries.items():
            assert v in got[k], (k, got[k])
    return check



RUNS = [
    Run("plain", _dir(M), stdout=("tickers: 3 in the dataset, 0 skipped",)),
    Run("plain_3_decimals", _dir(M3, decimals=3)),
    # 1. time zones: the exchange's local calendar day, CSV and Parquet alike
    Run("krx_long_offset", _long(M, offset="+09:00"), same_as="plain"),
    Run("offset_minus_5", _dir(M, offset="-05:00"), same_as="plain"),
    Run("offset_parquet", _parquet_offset, same_as="plain"),
    Run("offset_mixed", _mixed_offsets, needles=("prices.csv, line 8", "field 'date'", "has no utc offset",
                                                 "at line 2")),
    # 2. decimal commas: read when unambiguous, asked for when not
    Run("krx_long_semicolon_decimal_comma", _long(M, delimiter=";", decimal=",", offset="+09:00"), same_as="plain"),
    Run("decimal_comma_dir", _dir(M, delimiter=";", decimal=","), same_as="plain"),
    Run("decimal_ambiguous", _dir(M3, delimiter=";", decimal=",", decimals=3),
        needles=(f"{first_ticker_file}, line 2", "field 'open'", "could be", 'decimal = ","', "--decimal")),
    Run("decimal_flag", _dir(M3, delimiter=";", decimal=",", decimals=3), args=("--decimal", ","),
        same_as="plain_3_decimals"),
    Run("decimal_config", _dir(M3, delimiter=";", decimal=",", decimals=3), config=CONFIG + 'decimal = ","\n',
        same_as="plain_3_decimals"),
    Run("decimal_conflict", _dir(M, delimiter=";", decimal=",",
                                 edit=_replace_line(first_ticker_file, 6, lambda s: s.split(";", 1)[0] + ";1,234,567;"
                                                    + s.split(";", 2)[2])),
        needles=(f"{first_ticker_file}, line 6", "field 'open'", "'1,234,567'", "two ways", "decimal")),
    Run("decimal_dot_forced", _dir(M, delimiter=";", decimal=","), args=("--decimal", "."),
        needles=(f"{first_ticker_file}, line 2", "field 'open'", "is not a number", 'decimal = "."')),
    Run("quoted_thousands", _dir(M, thousands=True), same_as="plain"),
    # 3. duplicate column names
    Run("duplicate_close", _duplicate("Close"),
        needles=(first_ticker_file, "line 1 (the header)", "'close' (column 5) and 'close' (column 7)", "same name")),
    Run("duplicate_close_case", _duplicate("close"),
        needles=(first_ticker_file, "line 1 (the header)", "(column 7)", "same name apart from case")),
    Run("duplicate_parquet", _duplicate("close", parquet=True),
        needles=(f"{CODES[0]}.parquet", "'close' (column 5) and 'close' (column 7)", "same name apart from case")),
    # 4. every ticker is in the dataset or skipped with its reason
    Run("ticker_accounting", _accounting, stdout=("tickers: 3 in the dataset, 2 skipped (see report.md)",),
        check=_skipped({"SHORT", "HALTED"})),
    # 5. no or zero volume: accepted, volume features neutral
    Run("no_volume_column", _dir(M, volume=False),
        stdout=("no volume information: 3 tickers",), check=_no_volume),
    Run("zero_volume", _dir(M.assign(Volume=0)), stdout=("no volume information: 3 tickers",), check=_no_volume),
    # 6. intraday bars
    Run("intraday", _intraday, needles=(first_ticker_file, "line 3", "field 'date'", "intraday bars",
                                         "up to 3 rows per day", "2010-01-04", "--resample daily")),
    Run("intraday_resampled", _intraday, args=("--resample", "daily"), same_as="plain",
        stdout=("2,700 intraday bars resampled to 900 daily bars (3 tickers)",), check=_resampled),
    # 7. delimiters and Excel exports
    Run("tab_delimiter", _dir(M, delimiter="\t"), same_as="plain"),
    Run("excel_sep_line", _dir(M, delimiter=";", decimal=",", sep_line=True), same_as="plain"),
    Run("excel_sep_line_bad_row", _dir(M, delimiter=";", decimal=",", sep_line=True,
                                       edit=_replace_line(first_ticker_file, 5, lambda s: s.rsplit(";", 1)[0] + ";lots")),
        needles=(f"{first_ticker_file}, line 5 (data row 3; the header is line 2)", "field 'volume'",
                 "'lots' is not a number")),
    Run("unquoted_thousands", _dir(M, edit=_replace_line(first_ticker_file, 4, lambda s: s.rsplit(",", 1)[0] + ",1,234")),
        needles=(first_ticker_file, "line 4", "saw 7", "double quotes")),
    # 8. one file of one ticker: the stem is the ticker
    Run("one_file_dir", _one_file_dir, check=_named("AAPL")),
    Run("one_file", _one_file, same_as="one_file_dir", check=_named("AAPL")),
    # 9. ties in the target on a coarse tick
    Run("coarse_tick_ties", _coarse_tick, config="[data]\nlook_back = 20\nlook_ahead = 1\n", check=_uniform_ties),
    # 10. repairs in the summary
    Run("repairs_in_summary", _dir(M, edit=_reversed_with_duplicates),
        same_as="plain", stdout=("repairs: 299 rows out of date order sorted (1 ticker); 2 exact duplicate rows "
                                 "dropped (1 ticker) (see report.md)",)),
    # 11. dates: never a guessed century, day/month order from the whole column, mixed formats named
    Run("two_digit_year_us", _dir(M, edit=_redate("%m/%d/%y")),
        needles=(f"{first_ticker_file}, line 2", "field 'date'", "two-digit year", "nn/nn/yy", "date_format")),
    Run("two_digit_year_dotted", _dir(M, edit=_redate("%d.%m.%y")),
        needles=(f"{first_ticker_file}, line 2", "'04.01.10'", "two-digit year", "--date-format")),
    Run("two_digit_year_uk", _dir(M, edit=_redate("%d/%m/%y")),
        needles=(f"{first_ticker_file}, line 2", "'04/01/10'", "two-digit year")),
    Run("two_digit_year_first", _dir(M, edit=_redate("%y-%m-%d")),
        needles=(f"{first_ticker_file}, line 2", "'10-01-04'", "two-digit year", "nn-nn-nn")),
    Run("two_digit_year_explicit", _dir(M, edit=_redate("%d/%m/%y")), args=("--date-format", "%d/%m/%y"),
        same_as="plain"),
    Run("day_first", _dir(M, edit=_redate("%d/%m/%Y")), same_as="plain",
        stdout=("dates: DD/MM/YYYY in 3 files (day first: '13/01/2010' at line 9",)),
    Run("month_first", _dir(M, edit=_redate("%m/%d/%Y")), same_as="plain",
        stdout=("dates: MM/DD/YYYY in 3 files (month first: '01/13/2010' at line 9",)),
    Run("day_month_ambiguous", _early_days,
        needles=(f"{first_ticker_file}, line 2", "could be dd/mm/yyyy or mm/dd/yyyy", "date_format")),
    Run("day_month_said", _early_days, config=CONFIG + 'date_format = "%d/%m/%Y"\n',
        check=lambda report, meta, path: report["splits"]["train"]["start"].startswith("2010-01")),
    Run("iso_then_us", _dir(M, edit=_redate("%m/%d/%Y", from_line=201)),
        needles=(f"{first_ticker_file}, line 201", "is written mm/dd/yyyy", "lines 2 to 200", "yyyy-mm-dd")),
    # 12. every folder entry: in the dataset, noted with its reason, or an error
    Run("dangling_symlink", _dir(M, edit=_dangling),
        needles=(f"{CODES[2]}.csv", "symbolic link", "does not exist", f"ticker '{CODES[2]}'")),
    Run("latin1_file_name", _dir(M, edit=_latin1_name), check=_named_three("Soci\\xe9t\\xe9"),
        stdout=("file names not valid UTF-8: 1, shown with escaped bytes (Soci\\xe9t\\xe9.csv -> ticker "
                "'Soci\\xe9t\\xe9')",)),
    Run("subfolder_and_readme", _dir(M, edit=_subfolder),
        stdout=("not read: 2 folder entries", "more: a subfolder, holding 1 data file"),
        check=_has_notes({"more": "subfolder", "README.md": "not a data file"})),
    Run("csv_and_parquet", _dir(M, edit=_also_parquet),
        needles=(f"{CODES[2]}.csv and", f"{CODES[2]}.parquet", f"both hold ticker '{CODES[2]}'")),
    # 13. file kinds by their first bytes: gzip and UTF-16 read, the rest named
    Run("csv_gz_files", _dir(M, edit=_recode(lambda b: __import__("gzip").compress(b), ".csv.gz")), same_as="plain"),
    Run("gzip_named_csv", _dir(M, edit=_recode(lambda b: __import__("gzip").compress(b))), same_as="plain"),
    Run("csv_gz_long", _gzip_long, same_as="plain"),
    Run("utf16_excel_unicode_text", _dir(M, edit=_recode(_utf16_tab)), same_as="plain"),
    Run("xlsx_named_csv", _dir(M, edit=_first_file(_xlsx)),
        needles=(first_ticker_file, "excel workbook (.xlsx)", "csv (utf-8)")),
    Run("random_bytes", _dir(M, edit=_first_file(lambda b: np.random.default_rng(0).bytes(4096))),
        needles=(first_ticker_file, "binary data, not text")),
    Run("bzip2_named_csv", _dir(M, edit=_first_file(lambda b: __import__("bz2").compress(b))),
        needles=(first_ticker_file, "compressed with bzip2", "decompress")),
    # 14. messages: editor lines past quoted multi-line fields, currency signs, a BOM in the TOML file
    Run("multiline_notes_bad_row", _dir(M, edit=_notes_then_bad_row),
        needles=(f"{first_ticker_file}, line 304 (data row 300", "field 'close'", "'n.a.' is not a number")),
    Run("currency_sign", _dir(M, edit=_replace_line(first_ticker_file, 5, _won)),
        needles=(f"{first_ticker_file}, line 5", "field 'close'", "currency sign '\u20a9'", "'\u20a91,498'")),
    Run("toml_with_bom", _dir(M), config="\ufeff" + CONFIG, same_as="plain"),
]


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    """Run every case; id -> (returncode, stdout, stderr, out dir, cache dir)."""
    root = tmp_path_factory.mktemp("real")
    env = cli_env()
    procs: dict[str, tuple] = {}
    done: dict[str, tuple] = {}

    def collect(rid: str) -> None:
        proc, out, cache = procs[rid]
        stdout, stderr = proc.communicate(timeout=300)
        done[rid] = (proc.returncode, stdout, stderr, out, cache)

    try:
        for run in RUNS:
            running = [r for r in procs if r not in done]
            if len(running) >= 3:  # a few at a time: 2 cores, and other suites run beside this one
                collect(running[0])
            d = root / run.id
            d.mkdir()
            source = run.write(d)
            (d / "study.toml").write_text(run.config)
            out, cache = d / "out", d / "cache"
            cmd = cli_command("prep", "--config", str(d / "study.toml"), "--data", str(source),
                   "--out", str(out), "--cache", str(cache), "--quiet", *run.args)
            procs[run.id] = (subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                              env=env, cwd=d), out, cache)
        for rid in procs:
            if rid not in done:
                collect(rid)
        return done
    finally:
        for proc, *_ in procs.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait()


def _dataset(stdout: str) -> Path:
    line = next(x for x in stdout.splitlines() if x.startswith("dataset: "))
    return Path(line.split(" ", 1)[1].rsplit(" (", 1)[0])


def test_at_least_20_cases():
    assert len({r.id for r in RUNS}) == len(RUNS) >= 20


@pytest.mark.parametrize("run", RUNS, ids=[r.id for r in RUNS])
def test_prep_cli(run, results):
    code, stdout, stderr, out, cache = results[run.id]
    if run.needles:
        assert code == 2, (stdout, stderr)
        assert stderr.startswith("stocktune prep: error: ") and stderr.count("\n") == 1, stderr
        for needle in run.needles:
            assert needle.lower() in stderr.lower(), (needle, stderr)
        assert not out.exists()  # nothing written: no report directory ...
        assert not (cache.exists() and list(cache.rglob("meta.json")))  # ... and no dataset
        return
    assert code == 0, stderr
    for needle in run.stdout:
        assert needle in stdout, (needle, stdout)
    path = _dataset(stdout)
    report = json.loads((out / "report.json").read_text())
    meta = json.loads((path / "meta.json").read_text())
    assert report["tickers_in_input"] == report["n_tickers"] + len(report["skipped"])
    if run.check is not None:
        run.check(report, meta, path)
    if run.same_as is not None:
        other = _dataset(results[run.same_as][1])
        assert meta["tickers"] == json.loads((other / "meta.json").read_text())["tickers"]
        for name in ("date", "ticker", "features", "train_target", "test_end"):
            np.testing.assert_array_equal(np.load(path / f"{name}.npy"), np.load(other / f"{name}.npy"), err_msg=name)


def test_summary_survives_a_closed_pipe(tmp_path):
    """`stocktune prep ... | head`: the reader is gone before prep prints; no BrokenPipe traceback."""
    proc = subprocess.Popen(cli_command("prep", "--data", "synthetic:tickers=5,days=700,seed=1", "--cache",
                                        str(tmp_path / "c"), "--quiet"), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, cwd=tmp_path, env=cli_env())
    proc.stdout.close()  # as `head` does after its lines
    stderr = proc.stderr.read()
    proc.wait(timeout=300)
    assert list((tmp_path / "c").glob("*/meta.json")), stderr  # prep itself succeeded
    assert "Traceback" not in stderr and "BrokenPipe" not in stderr, stderr
