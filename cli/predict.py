"""Score every ticker's chance to rise over the next look_ahead days with a final model.

Recomputes the features of SOURCE with the scaler stored in MODEL_DIR (no refitting on new
data), takes each ticker's window ending on the latest date (or --date) and prints the model's
rise probability as a 0-100 score, highest first. Tickers without a full window on that date
(not traded that day, too short a history, a long halt) are listed as skipped on stderr.

examples:
  stocktune predict runs/final_model --data sample
  stocktune predict runs/final_model --data prices/ --date 2013-06-03 --format csv --top 20
"""
from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import sys

import numpy as np

from cli.numbers import count
from common.errors import InputError

FORMATS = ("table", "csv", "json")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("model_dir", metavar="MODEL_DIR", help="a model directory from `stocktune fit --final --out`")
    p.add_argument("--data", metavar="SOURCE", required=True,
                   help="price data: a directory or file of OHLCV, 'sample' or 'synthetic:...'")
    p.add_argument("--date", metavar="YYYY-MM-DD", default=None,
                   help="the day the prediction is made (default: the latest date in SOURCE)")
    p.add_argument("--format", choices=FORMATS, default="table", help="output format (default: table)")
    p.add_argument("--top", metavar="N", type=count, default=None, help="print only the N highest scores")
    p.add_argument("--device", default=None, help="override the model's device (auto|cpu|cuda[:N])")
    p.add_argument("--threads", type=count, default=None, metavar="T",
                   help="CPU threads (default: $OMP_NUM_THREADS, else the cores the 1-minute load average "
                        "leaves free, 1-8; docs/model.md)")


def run(args: argparse.Namespace) -> int:
    from common.cpus import resolve_threads
    from model.final import predict_model_dir

    if args.top is not None and args.top < 1:
        raise InputError(f"--top must be a positive integer, but got --top={args.top}.")
    try:
        day = np.datetime64(dt.date.fromisoformat(args.date), "D") if args.date else None
    except ValueError:
        raise InputError(f"--date must be a date YYYY-MM-DD, but got --date={args.date!r}.") from None
    p = predict_model_dir(args.model_dir, args.data, day, device=args.device, threads=resolve_threads(args.threads))
    scores, skipped = p["scores"], p["skipped"]
    shown = scores[: args.top] if args.top else scores
    for s in skipped:
        print(f"skipped {s['ticker']}: {s['reason']}", file=sys.stderr)
    if args.format == "json":
        print(json.dumps({"date": p["date"], "look_ahead": p["look_ahead"], "model_dir": str(args.model_dir),
                          "source": args.data, "n_scored": len(scores), "predictions": shown, "skipped": skipped},
                         indent=2))
    elif args.format == "csv":
        w = csv.writer(sys.stdout, lineterminator="\n")
        w.writerow(["rank", "ticker", "date", "score", "probability"])
        for d in shown:
            w.writerow([d["rank"], d["ticker"], p["date"], f"{d['score']:.2f}", f"{d['probability']:.6f}"])
    else:
        width = max([6] + [len(d["ticker"]) for d in shown])
        print(f"Rise score (0-100) over the next {p['look_ahead']} trading days, windows ending {p['date']}:")
        print(f"{'rank':>4}  {'ticker':<{width}}  {'score':>6}")
        for d in shown:
            print(f"{d['rank']:>4}  {d['ticker']:<{width}}  {d['score']:>6.2f}")
        if len(shown) < len(scores):
            print(f"({len(scores) - len(shown)} more not shown; --top {args.top})")
        if skipped:
            print(f"({len(skipped)} tickers skipped, see stderr)")
    return 0
