"""`stocktune prep` through a subprocess: report files on success, exit 2 and nothing written on bad input."""
from __future__ import annotations

import json
from pathlib import Path

import cli_run

SOURCE = "synthetic:tickers=30,days=800,seed=4"


def stocktune(*args: str, cwd: Path):
    """`stocktune ARGS` with a cache of its own under ``cwd`` (envcache) when no --cache is given."""
    return cli_run.stocktune(*args, cwd=cwd, cache=cwd / "envcache", timeout=180)


def test_prep_writes_report_and_reuses_cache(tmp_path):
    r = stocktune("prep", "--data", SOURCE, "--cache", str(tmp_path / "c"), "--out", str(tmp_path / "out"),
                  cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "features" in r.stderr  # progress on stderr
    assert "train" in r.stdout and "target KS" in r.stdout and "(built)" in r.stdout
    for name in ("report.md", "report.json", "target_hist.png", "target_qq.png", "volatility_hist.png"):
        assert (tmp_path / "out" / name).is_file(), name
    rep = json.loads((tmp_path / "out" / "report.json").read_text())
    assert rep["source"] == SOURCE and (tmp_path / "c" / rep["cache_key"] / "meta.json").is_file()
    again = stocktune("prep", "--data", SOURCE, "--cache", str(tmp_path / "c"), "--quiet", cwd=tmp_path)
    assert again.returncode == 0 and "(cache hit)" in again.stdout and again.stderr == ""


def test_config_data_table_and_override(tmp_path):
    cfg = tmp_path / "study.toml"
    cfg.write_text('name = "x"\n[data]\nsource = "does-not-exist"\nlook_back = 20\nlook_ahead = 3\n')
    r = stocktune("prep", "--config", str(cfg), "--data", SOURCE, "--quiet", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    meta = json.loads(next((tmp_path / "envcache").glob("*/meta.json")).read_text())
    assert meta["look_back"] == 20 and meta["look_ahead"] == 3 and meta["source"] == SOURCE


def assert_nothing_written(tmp_path: Path) -> None:
    assert not (tmp_path / "c").exists() and not (tmp_path / "out").exists() and not (tmp_path / "envcache").exists()


def test_missing_source_exits_2_and_writes_nothing(tmp_path):
    r = stocktune("prep", "--data", str(tmp_path / "nope.csv"), "--cache", str(tmp_path / "c"), "--out",
                  str(tmp_path / "out"), cwd=tmp_path)
    assert r.returncode == 2 and "nope.csv" in r.stderr and "Traceback" not in r.stderr
    assert_nothing_written(tmp_path)


def test_bad_row_in_csv_exits_2_naming_file_and_row(tmp_path):
    csv = tmp_path / "prices.csv"
    lines = ["ticker,date,open,high,low,close,volume"]
    for i in range(400):
        lines.append(f"AAA,{str(__import__('datetime').date(2010, 1, 1) + __import__('datetime').timedelta(days=i))},"
                     f"10,11,9,10,1000")
    lines[123] = lines[123].replace(",10,11,9,10,", ",10,11,9,-5,")  # a negative close
    csv.write_text("\n".join(lines) + "\n")
    r = stocktune("prep", "--data", str(csv), "--cache", str(tmp_path / "c"), "--out", str(tmp_path / "out"),
                  cwd=tmp_path)
    assert r.returncode == 2, r.stderr
    assert "prices.csv" in r.stderr and "close" in r.stderr
    assert_nothing_written(tmp_path)


def test_bad_config_key_exits_2_and_writes_nothing(tmp_path):
    cfg = tmp_path / "study.toml"
    cfg.write_text('[data]\nsource = "sample"\nlook_ahead = 0\n')
    r = stocktune("prep", "--config", str(cfg), "--cache", str(tmp_path / "c"), "--out", str(tmp_path / "out"),
                  cwd=tmp_path)
    assert r.returncode == 2 and "look_ahead" in r.stderr and "study.toml" in r.stderr
    assert_nothing_written(tmp_path)


def test_too_little_data_exits_2_and_writes_nothing(tmp_path):
    r = stocktune("prep", "--data", "synthetic:tickers=3,days=200,seed=0", "--cache", str(tmp_path / "c"),
                  "--out", str(tmp_path / "out"), cwd=tmp_path)
    assert r.returncode == 2, r.stderr
    assert_nothing_written(tmp_path)
