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


def _named(ticker: str) -> Callable[[dict, dict, Path], None]:
    def check(report: dict, meta: dict, path: Path) -> None:
        assert meta["tickers"] == [ticker]
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
