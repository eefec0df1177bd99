"""Malformed inputs: each is a tiny file that must be rejected with a message naming file, row and field.

Every case runs twice: through the library (``validate(load_source(path))``, one ``pytest.raises``
each) and through the CLI as a subprocess (``stocktune prep --data PATH --out OUT``), which must exit
2, print the same kind of message and leave no OUT directory and no dataset in the cache behind.
The subprocesses of all cases are started together once per module (they are mostly the Python
start-up, and 20 of them one by one would eat the suite's time budget).
"""
from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
from cli_run import cli_command, cli_env

from common.errors import InputError
from data_prep.sources import load_source
from data_prep.validate import validate

HEADER = "Date,Open,High,Low,Close,Volume"
GOOD = ["2021-01-04,10,11,9,10.5,1000", "2021-01-05,10.5,11.5,10,11,1200",
        "2021-01-06,11,12,10.5,11.5,900", "2021-01-07,11.5,12,11,11.8,950"]


def _with(line: int, row: str, header: str = HEADER, rows: list[str] = GOOD) -> str:
    """A CSV whose ``line`` (1-based, the header is line 1) is replaced by ``row``."""
    body = list(rows)
    body[line - 2] = row
    return "\n".join([header, *body]) + "\n"


@dataclass(frozen=True)
class Case:
    id: str
    name: str  # file name inside the case's directory
    content: str | bytes
    needles: tuple[str, ...]  # must all appear in the message (case-insensitive): row, field, value
    source: str = "dir"  # pass the directory ('dir') or the file itself ('file')


LONG = "Ticker," + HEADER
CASES = [
    Case("missing_column", "AAA.csv", "Date,Open,High,Low,Volume\n2021-01-04,10,11,9,1000\n",
         ("required column 'close' is missing", "columns found are: date, open, high, low, volume")),
    Case("unparseable_date", "AAA.csv", _with(3, "2021-13-45,10.5,11.5,10,11,1200"),
         ("line 3", "field 'date'", "'2021-13-45' is not a date")),
    Case("empty_date", "AAA.csv", _with(4, ",11,12,10.5,11.5,900"), ("line 4", "field 'date'", "empty")),
    Case("text_price", "AAA.csv", _with(4, "2021-01-06,ten,12,10.5,11.5,900"),
         ("line 4", "field 'open'", "'ten' is not a number")),
    Case("empty_price", "AAA.csv", _with(2, "2021-01-04,10,11,9,,1000"), ("line 2", "field 'close'", "empty")),
    Case("zero_price", "AAA.csv", _with(3, "2021-01-05,10.5,11.5,0,11,1200"),
         ("line 3", "field 'low'", "positive", "low=0")),
    Case("negative_price", "AAA.csv", _with(5, "2021-01-07,-11.5,12,11,11.8,950"),
         ("line 5", "field 'open'", "open=-11.5")),
    Case("infinite_price", "AAA.csv", _with(5, "2021-01-07,11.5,inf,11,11.8,950"),
         ("line 5", "field 'high'", "high=inf")),
    Case("high_below_body", "AAA.csv", _with(3, "2021-01-05,10.5,10.8,10,11,1200"),
         ("line 3", "field 'high'", "high must be >= max(open, close)", "high=10.8")),
    Case("low_above_body", "AAA.csv", _with(4, "2021-01-06,11,12,11.2,11.5,900"),
         ("line 4", "field 'low'", "low must be <= min(open, close)", "low=11.2")),
    Case("negative_volume", "AAA.csv", _with(2, "2021-01-04,10,11,9,10.5,-1000"),
         ("line 2", "field 'volume'", "volume=-1000")),
    Case("text_volume", "AAA.csv", _with(3, "2021-01-05,10.5,11.5,10,11,lots"),
         ("line 3", "field 'volume'", "'lots' is not a number")),
    Case("empty_volume", "AAA.csv", _with(3, "2021-01-05,10.5,11.5,10,11,"),
         ("line 3", "field 'volume'", "write 0 for a halted day")),
    Case("conflicting_duplicate", "AAA.csv", _with(5, "2021-01-05,10.5,11.5,10,11.2,1200"),
         ("line 5", "field 'close'", "appears twice with different values", "line 3")),
    Case("empty_file", "AAA.csv", "", ("the file is empty",)),
    Case("header_only", "AAA.csv", HEADER + "\n", ("has a header but no data rows",)),
    Case("unsupported_extension", "prices.xlsx", "not a spreadsheet", ("unsupported file type '.xlsx'",),
         source="file"),
    Case("corrupt_parquet", "AAA.parquet", b"PAR1 this is not parquet at all PAR1",
         ("not a readable parquet file",)),
    Case("ambiguous_columns", "AAA.csv",
         "Date,Open,High,Low,Close,Volume,Adj Close,adj_close\n2021-01-04,10,11,9,10.5,1000,5,5\n",
         ("line 1 (the header)", "'adj close' (column 7) and 'adj_close' (column 8) both mean 'adj_close'",
          "ambiguous")),
    Case("nonpositive_adj_close", "AAA.csv",
         _with(3, "2021-01-05,10.5,11.5,10,11,1200,0", header=HEADER + ",Adj Close",
               rows=[r + ",5" for r in GOOD]),
         ("line 3", "field 'adj_close'", "adj_close=0")),
    Case("empty_ticker", "prices.csv",
         _with(3, ",2021-01-05,10.5,11.5,10,11,1200", header=LONG, rows=["AAA," + r for r in GOOD]),
         ("line 3", "field 'ticker'", "the ticker is empty"), source="file"),
]


def _write(case: Case, root: Path) -> tuple[Path, Path]:
    """Write the case's file under ``root/<id>/data``; returns (source path, file path)."""
    d = root / case.id / "data"
    d.mkdir(parents=True)
    f = d / case.name
    if isinstance(case.content, bytes):
        f.write_bytes(case.content)
    else:
        f.write_text(case.content)
    return (d if case.source == "dir" else f), f


def _check_message(message: str, case: Case, file: Path) -> None:
    low = message.lower()
    assert case.name.lower() in low, message  # the file
    for needle in case.needles:
        assert needle.lower() in low, (needle, message)


def test_at_least_15_distinct_cases():
    assert len({c.id for c in CASES}) >= 15


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_rejected_by_the_library(case, tmp_path):
    source, file = _write(case, tmp_path)
    with pytest.raises(InputError) as err:
        validate(load_source(str(source)), min_rows=1)
    _check_message(str(err.value), case, file)


@pytest.fixture(scope="module")
def cli_results(tmp_path_factory):
    """Run `stocktune prep` on every case at once; case id -> (returncode, stderr, out dir, cache dir, file)."""
    root = tmp_path_factory.mktemp("malformed")
    env = cli_env()
    procs: dict[str, tuple] = {}
    results = {}

    def collect(cid: str) -> None:
        proc, out, cache, file = procs[cid]
        _, stderr = proc.communicate(timeout=120)
        results[cid] = (proc.returncode, stderr, out, cache, file)

    try:
        for case in CASES:
            running = [cid for cid in procs if cid not in results]
            if len(running) >= 3:  # a few at a time: 2 cores, and other suites run beside this one
                collect(running[0])
            source, file = _write(case, root)
            out, cache = root / case.id / "out", root / case.id / "cache"
            cmd = cli_command("prep", "--data", str(source), "--out", str(out),
                   "--cache", str(cache), "--quiet")
            procs[case.id] = (subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                               env=env, cwd=root), out, cache, file)
        for cid in procs:
            if cid not in results:
                collect(cid)
        return results
    finally:
        for proc, *_ in procs.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait()


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_rejected_by_the_cli(case, cli_results):
    code, stderr, out, cache, file = cli_results[case.id]
    assert code == 2, stderr
    assert stderr.startswith("stocktune prep: error: "), stderr
    assert "Traceback" not in stderr
    _check_message(stderr, case, file)
    assert not out.exists()  # nothing half-written
    assert not list(cache.rglob("meta.json")) if cache.exists() else True
