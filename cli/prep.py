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
import sys
from dataclasses import replace
from pathlib import Path

from common.env import cache_root
from common.errors import InputError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", metavar="SOURCE",
                        help="'sample', a directory of per-ticker CSV/Parquet files, one long CSV/Parquet file, "
                             "or 'synthetic:tickers=N,days=D,seed=S'; overrides the config's source")
    parser.add_argument("--config", metavar="TOML", help="a study or run file; its [data] table sets the prep")
    parser.add_argument("--out", metavar="DIR", help="copy the report (md, json, PNGs) into this directory")
    parser.add_argument("--cache", metavar="DIR", help="cache root (default: $STOCKTUNE_CACHE or runs/cache)")
    parser.add_argument("--quiet", action="store_true", help="no progress on stderr")
    parser.add_argument("--decimal", choices=(",", "."),
                        help="decimal mark of numbers written as text (overrides [data] decimal; default: read it from "
                             "each column, and stop if a column could be either)")
    parser.add_argument("--date-format", metavar="FORMAT",
                        help='strptime format of text dates, e.g. "%%d/%%m/%%y" (overrides [data] date_format; default: '
                             "decided from each file's whole column, refusing two-digit years and ambiguous day/month)")
    parser.add_argument("--resample", choices=("daily",),
                        help="aggregate intraday bars to daily bars (overrides [data] resample)")


def run(args: argparse.Namespace) -> int:
    from data_prep.pipeline import prepare
    from data_prep.report import copy_report, summary_text
    from model.run_file import data_spec_of

    spec = data_spec_of(args.config, args.data)
    flags = {k: v for k, v in (("decimal", args.decimal), ("resample", args.resample),
                               ("date_format", args.date_format)) if v is not None}
    if flags:
        spec = replace(spec, prep=replace(spec.prep, **flags))  # CLI > file > default
    out = Path(args.out) if args.out else None
    if out is not None and out.exists() and not out.is_dir():
        raise InputError(f"--out must be a directory, but {out} is a file.")
    result = prepare(spec.source, spec.prep, Path(args.cache) if args.cache else cache_root(), progress=not args.quiet)
    print(summary_text(result.report, result.path, result.cached))
    # the report is copied only after a successful prep: bad input never leaves a half-filled --out; the
    # copy names the source given here, also when the dataset was first built from another path
    print(f"report: {copy_report(result.path, out, result.report) if out is not None else result.path / 'report.md'}")
    sys.stdout.flush()
    return 0
