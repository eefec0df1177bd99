"""Prepare a dataset (or find it in the cache) and write its report.

Loads the source, validates and adjusts it, computes features and the rise-probability target,
splits by time with a purge gap, and stores the memory-mapped dataset in the content-addressed
cache (built once even when several workers ask at the same time). Prints a summary and the
dataset path; --out also copies report.md, report.json and the PNGs there.

examples:
  stocktune prep --data sample
  stocktune prep --data synthetic:tickers=100,days=1500,seed=0 --out runs/prep-report
  stocktune prep --config studies/sample.toml --cache runs/cache
"""
from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

__all__ = ["add_arguments", "run"]

REPORT_FILES = ("report.md", "report.json", "target_hist.png", "target_qq.png", "volatility_hist.png")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", metavar="SOURCE",
                        help="'sample', a directory of per-ticker CSV/Parquet files, one long CSV/Parquet file, "
                             "or 'synthetic:tickers=N,days=D,seed=S'; overrides the config's source")
    parser.add_argument("--config", metavar="TOML", help="a study or run file; its [data] table sets the prep")
    parser.add_argument("--out", metavar="DIR", help="copy the report (md, json, PNGs) into this directory")
    parser.add_argument("--cache", metavar="DIR", help="cache root (default: $STOCKTUNE_CACHE or runs/cache)")
    parser.add_argument("--quiet", action="store_true", help="no progress on stderr")


def _summary(result) -> str:
    rep = result.report
    lines = [
        f"dataset: {result.path} ({'cache hit' if result.cached else 'built'})",
        f"source: {rep['source']}  rows: {rep['n_rows']:,}  tickers: {rep['n_tickers']:,}  "
        f"features: {len(rep['features'])}  target: {rep['target_method']}  purge gap: {rep['purge_gap_days']} days",
    ]
    for s in ("train", "val", "test"):
        sp = rep["splits"][s]
        lines.append(f"  {s:5s} {sp['start']} .. {sp['end']}  windows {sp['n_windows']:>10,}  "
                     f"target KS {sp['target_ks_stat']:.4f} (p={sp['target_ks_p']:.3g})")
    if rep.get("skipped"):
        lines.append(f"skipped tickers: {len(rep['skipped'])} (see report.md)")
    if rep.get("adjustments"):
        lines.append(f"adjustments: {len(rep['adjustments'])} (see report.md)")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    from data_prep.config import PrepConfig
    from common.errors import InputError
    from data_prep.pipeline import prepare
    from common.env import cache_root as default_cache_root
    from model.run_file import parse_data, read_toml

    if args.config:
        doc = read_toml(args.config)
        table = dict(doc.get("data") or {})
        if not table and not args.data:
            raise InputError(f"{args.config} has no [data] table; add one (source = \"sample\") or pass --data.")
        if args.data:
            table["source"] = args.data
        spec = parse_data(table, f"{args.config}, [data]")
        source, cfg = spec.source, spec.prep
    elif args.data:
        source, cfg = args.data, PrepConfig()
    else:
        raise InputError("give --data SOURCE (e.g. --data sample) or --config studies/X.toml with a [data] table.")
    out = Path(args.out) if args.out else None
    if out is not None and out.exists() and not out.is_dir():
        raise InputError(f"--out must be a directory, but {out} is a file.")
    cache_root = Path(args.cache) if args.cache else default_cache_root()

    result = prepare(source, cfg, cache_root, progress=not args.quiet)
    print(_summary(result))
    if out is not None:
        # written only after a successful prep: bad input never leaves a half-filled --out
        out.mkdir(parents=True, exist_ok=True)
        for name in REPORT_FILES:
            if (result.path / name).exists():
                shutil.copy2(result.path / name, out / name)
        print(f"report: {out / 'report.md'}")
    else:
        print(f"report: {result.path / 'report.md'}")
    sys.stdout.flush()
    return 0
