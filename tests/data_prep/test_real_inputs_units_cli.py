"""Units, calendars, constant prices and provenance through `stocktune prep` (issue 20, second sweep).

- a ticker quoted in other units from one day on (×100, ×1000, ÷100, ×10, volume unchanged) is
  reported per ticker and date with its factor and adjusted: the dataset is the plain one (to float
  rounding, since the history is then on the scale of the latest date), while an ordinary split,
  whose volume moves inversely, is still adjusted as a split;
- stale weekend rows (Friday's close repeated, volume 0) are dropped and counted; weekend rows with
  trading are kept and counted;
- a ticker whose close never moves is skipped with that reason;
- a byte-identical file in another folder hits the cache, and the summary and the copied report
  name the source given, not the first build's.

Each case is a subprocess, as users run it; a few run at a time, started once per module.
"""
from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from _files import CODES, bars, text, write_dir
from cli_run import ROOT, cli_command, cli_env

CONFIG = "[data]\nlook_back = 5\nlook_ahead = 1\n"
M = bars(days=600, seed=4)
JUMP_ROW = 350  # the first row of the changed ticker at the new units
CHANGED = CODES[1]
JUMP_DATE = str(M[M.Ticker == CHANGED].Date.iloc[JUMP_ROW].date())
PRICES = ["Open", "High", "Low", "Close"]


@dataclass(frozen=True)
class Run:
    id: str
    write: Callable[[Path], Path]  # writes the input under a fresh directory, returns the SOURCE
    stdout: tuple[str, ...] = ()  # in the printed summary
    check: Callable[[dict, dict, Path], None] | None = field(default=None, compare=False)  # (report, meta, dataset)


def _dir(df: pd.DataFrame, **kw) -> Callable[[Path], Path]:
    def write(d: Path) -> Path:
        return write_dir(df, d / "data", **kw)
    return write


def _units(factor: float, volume: float = 1.0, ticker: str = CHANGED) -> pd.DataFrame:
    """M with ``ticker``'s prices × factor and volumes × volume from its row JUMP_ROW on."""
    df = M.copy()
    rows = df.index[df.Ticker == ticker][JUMP_ROW:]
    df.loc[rows, PRICES] = (df.loc[rows, PRICES] * factor).round(6)
    df.loc[rows, "Volume"] = (df.loc[rows, "Volume"] * volume).round().astype(np.int64)
    return df


def _unit_change(factor: float, volume: bool = True) -> Callable[[dict, dict, Path], None]:
    def check(report: dict, meta: dict, path: Path) -> None:
        units = [a for a in report["adjustments"] if a["method"] == "unit_change"]
        assert [(a["ticker"], a["date"], a["factor"]) for a in units] == [(CHANGED, JUMP_DATE, factor)], report
        assert not [a for a in report["adjustments"] if a["method"] != "unit_change"]  # no split was made up
        ret = np.load(path / "train_ret.npy")
        assert np.abs(ret).max() < 0.3  # unadjusted, the jump is a 1-day log return of |log factor| >= 2.3
        plain = _dataset(RESULTS["plain"][1])
        np.testing.assert_array_equal(np.load(path / "date.npy"), np.load(plain / "date.npy"))
        # the same market at another scale: features are relative to the previous close
        features, base = np.load(path / "features.npy"), np.load(plain / "features.npy")
        cols = [i for i, n in enumerate(meta["feature_names"]) if volume or "volume" not in n]
        np.testing.assert_allclose(features[:, cols], base[:, cols], atol=2e-4)
    return check


def _split(ratio: float) -> Callable[[dict, dict, Path], None]:
    def check(report: dict, meta: dict, path: Path) -> None:
        assert [(a["ticker"], a["date"], a["method"], a["ratio"]) for a in report["adjustments"]] == \
            [(CHANGED, JUMP_DATE, "detected", ratio)], report
        assert np.abs(np.load(path / "train_ret.npy")).max() < 0.3
    return check


def _weekends(df: pd.DataFrame, n: int, trading: bool, day: int = 1) -> pd.DataFrame:
    """df plus, for CODES[0], a row on the day ``day`` days after each of its first ``n`` Fridays:
    Friday's close repeated with volume 0 (stale), or a bar of its own with volume (trading)."""
    g = df[df.Ticker == CODES[0]]
    fridays = g[g.Date.dt.day_of_week == 4].head(n)
    assert len(fridays) == n
    c = fridays.Close.to_numpy()
    extra = pd.DataFrame({"Ticker": CODES[0], "Date": fridays.Date + pd.Timedelta(days=day)})
    if trading:
        extra = extra.assign(Open=c, High=np.round(c * 1.02, 2), Low=np.round(c * 0.99, 2), Close=np.round(c * 1.01, 2),
                             Volume=123_456)
    else:
        extra = extra.assign(Open=c, High=c, Low=c, Close=c, Volume=0)
    return pd.concat([df, extra]).sort_values(["Ticker", "Date"], kind="stable").reset_index(drop=True)


def _stale_weekend(report: dict, meta: dict, path: Path) -> None:
    (w,) = report["weekend_rows"]
    assert (w["ticker"], w["dropped_stale"], w["kept_trading"]) == (CODES[0], 120, 0) and ", line " in w["first"]
    plain = _dataset(RESULTS["plain"][1])
    for name in ("date", "features", "train_end", "train_target", "val_end"):
        np.testing.assert_array_equal(np.load(path / f"{name}.npy"), np.load(plain / f"{name}.npy"), err_msg=name)


def _trading_weekend(report: dict, meta: dict, path: Path) -> None:
    (w,) = report["weekend_rows"]
    assert (w["ticker"], w["dropped_stale"], w["kept_trading"]) == (CODES[0], 0, 20)
    dates = np.load(path / "date.npy").astype("datetime64[D]").astype(np.int64)
    assert int(((dates + 3) % 7 == 6).sum()) == 20  # the Sunday sessions are trading days of the dataset


def _constant(report: dict, meta: dict, path: Path) -> None:
    reasons = {s["ticker"]: s["reason"] for s in report["skipped"]}
    assert set(reasons) == {"FLAT"} and "never moves" in reasons["FLAT"] and "12.5" in reasons["FLAT"]
    assert meta["tickers"] == list(CODES) and report["tickers_in_input"] == 4


def _with_flat(d: Path) -> Path:
    root = write_dir(M, d / "data")
    g = M[M.Ticker == CODES[0]].reset_index(drop=True).assign(Open=12.5, High=12.5, Low=12.5, Close=12.5)
    (root / "FLAT.csv").write_text(text(g, ticker=False))
    return root


RUNS = [
    Run("plain", _dir(M), stdout=("tickers: 3 in the dataset, 0 skipped",)),
    # units: reported per ticker and date with the factor, adjusted on prices only
    Run("cents_x100", _dir(_units(100.0)), stdout=(f"unit changes: {CHANGED} x100 from {JUMP_DATE}",),
        check=_unit_change(100.0)),
    Run("x1000", _dir(_units(1000.0)), stdout=(f"unit changes: {CHANGED} x1000 from {JUMP_DATE}",),
        check=_unit_change(1000.0)),
    Run("divided_by_100", _dir(_units(0.01), decimals=4), stdout=(f"unit changes: {CHANGED} x0.01 from {JUMP_DATE}",),
        check=_unit_change(0.01)),
    Run("x10_volume_unchanged", _dir(_units(10.0)), stdout=(f"unit changes: {CHANGED} x10 from {JUMP_DATE}",),
        check=_unit_change(10.0)),
    Run("x100_no_volume", _dir(_units(100.0), volume=False), stdout=(f"unit changes: {CHANGED} x100",),
        check=_unit_change(100.0, volume=False)),
    # ordinary splits (the volume moves inversely) are still splits
    Run("split_2_for_1", _dir(_units(0.5, volume=2.0)), stdout=("adjustments: 1 (see report.md)",), check=_split(2.0)),
    Run("reverse_split_1_for_10", _dir(_units(10.0, volume=0.1)), check=_split(0.1)),
    # calendars
    Run("stale_saturdays", _dir(_weekends(M, 120, trading=False)),
        stdout=("weekend rows: 120 stale ones dropped (1 ticker: volume 0, the previous close repeated), "
                "0 with trading kept (0 tickers)",), check=_stale_weekend),
    Run("sunday_sessions", _dir(_weekends(M, 20, trading=True, day=2)),
        stdout=("weekend rows: 0 stale ones dropped (0 tickers", "20 with trading kept (1 ticker)"),
        check=_trading_weekend),
    # a ticker whose price never moves
    Run("constant_price", _with_flat, stdout=("tickers: 3 in the dataset, 1 skipped (1 with a constant price)",),
        check=_constant),
]
RESULTS: dict[str, tuple] = {}


def _prep(run: Run, d: Path) -> tuple:
    """`stocktune prep` on the run's input written under ``d``: (returncode, stdout, stderr, out dir)."""
    d.mkdir()
    source = run.write(d)
    (d / "study.toml").write_text(CONFIG)
    proc = subprocess.run(cli_command("prep", "--config", str(d / "study.toml"), "--data", str(source), "--out",
                                      str(d / "out"), "--cache", str(d / "cache"), "--quiet"),
                          capture_output=True, text=True, env=cli_env(), cwd=d, timeout=300)
    return proc.returncode, proc.stdout, proc.stderr, d / "out"


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    """Run every case, three at a time (2 cores, and other suites run beside this one): id -> _prep's tuple."""
    root = tmp_path_factory.mktemp("units")
    with ThreadPoolExecutor(max_workers=3) as pool:
        futures = {run.id: pool.submit(_prep, run, root / run.id) for run in RUNS}
        RESULTS.update({rid: f.result() for rid, f in futures.items()})
    return RESULTS


def _dataset(stdout: str) -> Path:
    line = next(x for x in stdout.splitlines() if x.startswith("dataset: "))
    return Path(line.split(" ", 1)[1].rsplit(" (", 1)[0])


@pytest.mark.parametrize("run", RUNS, ids=[r.id for r in RUNS])
def test_prep_cli(run, results):
    code, stdout, stderr, out = results[run.id]
    missing = [needle for needle in run.stdout if needle not in stdout]
    assert code == 0 and not missing, (missing, stdout, stderr)
    path = _dataset(stdout)
    report, meta = (json.loads(f.read_text()) for f in (out / "report.json", path / "meta.json"))
    assert report["tickers_in_input"] == report["n_tickers"] + len(report["skipped"])  # every ticker accounted for
    if run.check is not None:
        run.check(report, meta, path)


def test_the_plain_market_has_no_unit_change_weekend_or_adjustment(results):
    code, stdout, _, out = results["plain"]
    report = json.loads((out / "report.json").read_text())
    assert code == 0 and report["adjustments"] == [] and report["weekend_rows"] == []
    assert "unit changes" not in stdout and "weekend rows" not in stdout


def test_a_cache_hit_names_the_source_given(tmp_path):
    """The same bytes in another folder: the cache is hit, and the summary and the copied report name
    the second folder, not the first build's, also in the rows they point at."""
    df = _weekends(M, 10, trading=False)  # so that the report names a row of a file
    first = write_dir(df, tmp_path / "first" / "data")
    second = write_dir(df, tmp_path / "second" / "data")
    (tmp_path / "study.toml").write_text(CONFIG)
    env = cli_env()

    def prep(source: Path, out: Path) -> str:
        proc = subprocess.run(cli_command("prep", "--config", str(tmp_path / "study.toml"), "--data", str(source),
                                          "--out", str(out), "--cache", str(tmp_path / "cache"), "--quiet"),
                              capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300)
        assert proc.returncode == 0, proc.stderr
        return proc.stdout

    prep(first, tmp_path / "out1")
    stdout = prep(second, tmp_path / "out2")
    assert "(cache hit)" in stdout and f"source: {second} " in stdout and str(first) not in stdout
    report = json.loads((tmp_path / "out2" / "report.json").read_text())
    assert report["source"] == str(second) and str(first) not in json.dumps(report)
    assert report["weekend_rows"][0]["first"].startswith(f"{second}/{CODES[0]}.csv, line ")
    md = (tmp_path / "out2" / "report.md").read_text()
    assert f"source: `{second}`" in md and str(first) not in md
    assert (tmp_path / "out2" / "target_hist.png").is_file()
    # the first run's copy still names the first source
    assert json.loads((tmp_path / "out1" / "report.json").read_text())["source"] == str(first)


def test_no_caller_reads_the_dataset_report_by_string_key():
    """The report crosses layers as a DatasetReport: cli/, tuner/, model/ and bench/ read attributes."""
    pattern = re.compile(r"\.report\s*\[|\.report\.get\(|\breport\[\"(splits|n_rows|timings_s|purge_gap_days)")
    offenders = [f"{p.relative_to(ROOT)}:{i}" for pkg in ("cli", "tuner", "model", "bench")
                 for p in sorted((ROOT / pkg).rglob("*.py"))
                 for i, line in enumerate(p.read_text().splitlines(), 1) if pattern.search(line)]
    assert offenders == []


def test_meta_takes_the_shared_fields_from_the_report(results):
    from data_prep.dataset_report import DatasetReport

    _, stdout, _, _ = results["plain"]
    path = _dataset(stdout)
    raw = json.loads((path / "report.json").read_text())
    report = DatasetReport.from_json(raw)
    assert raw["report_version"] == 2 and report.to_json() == raw  # one JSON path, both ways
    meta = json.loads((path / "meta.json").read_text())
    assert {k: meta[k] for k in report.meta_fields()} == json.loads(json.dumps(report.meta_fields()))


def _refused(tmp_path: Path, df: pd.DataFrame) -> str:
    """Run prep on ``df`` as per-ticker files; it must exit 2 with one line and write nothing. Returns stderr."""
    source = write_dir(df, tmp_path / "data")
    (tmp_path / "study.toml").write_text(CONFIG)
    proc = subprocess.run(cli_command("prep", "--config", str(tmp_path / "study.toml"), "--data", str(source),
                                      "--out", str(tmp_path / "out"), "--cache", str(tmp_path / "cache"), "--quiet"),
                          capture_output=True, text=True, env=cli_env(), cwd=tmp_path, timeout=300)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.startswith("stocktune prep: error: ") and proc.stderr.count("\n") == 1, proc.stderr
    assert not (tmp_path / "out").exists() and not list(tmp_path.glob("cache/*/meta.json"))
    return proc.stderr


def test_only_constant_prices_are_refused_and_nothing_written(tmp_path):
    stderr = _refused(tmp_path, M.assign(Open=12.5, High=12.5, Low=12.5, Close=12.5))
    assert "constant close" in stderr and "12.5" in stderr and CODES[0] in stderr


def test_a_x100_bad_print_is_refused_naming_its_line(tmp_path):
    """Two days at x100, then back: no unit change (it does not persist) and no real move."""
    df = M.copy()
    rows = df.index[df.Ticker == CHANGED][JUMP_ROW:JUMP_ROW + 2]
    df.loc[rows, PRICES] = df.loc[rows, PRICES] * 100
    stderr = _refused(tmp_path, df)
    for needle in (f"{CHANGED}.csv, line {JUMP_ROW + 2}", "field 'close'", "x100 overnight", JUMP_DATE,
                   "does not stay there", "fix or delete"):
        assert needle in stderr, (needle, stderr)
