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
import json
import sys
from typing import Any

import numpy as np

from common.errors import InputError

FORMATS = ("table", "csv", "json")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("model_dir", metavar="MODEL_DIR", help="a model directory from `stocktune fit --final --out`")
    p.add_argument("--data", metavar="SOURCE", required=True,
                   help="price data: a directory or file of OHLCV, 'sample' or 'synthetic:...'")
    p.add_argument("--date", metavar="YYYY-MM-DD", default=None,
                   help="the day the prediction is made (default: the latest date in SOURCE)")
    p.add_argument("--format", choices=FORMATS, default="table", help="output format (default: table)")
    p.add_argument("--top", metavar="N", type=int, default=None, help="print only the N highest scores")
    p.add_argument("--device", default=None, help="override the model's device (auto|cpu|cuda[:N])")


def _parse_date(value: str) -> np.datetime64:
    import datetime as _dt

    try:
        return np.datetime64(_dt.date.fromisoformat(value), "D")
    except ValueError:
        raise InputError(f"--date must be a date YYYY-MM-DD, but got --date={value!r}.") from None


def full_window_rows(dataset, day: np.datetime64, look_back: int) -> tuple[np.ndarray, list[dict[str, Any]]]:
    """(rows ending a full window on ``day``, one per ticker; skipped tickers with the reason).

    A window is full when the ``look_back`` rows ending on ``day`` belong to one ticker, lie after
    the feature warm-up (``meta["warmup"]`` rows) and all their features are finite.
    """
    ticker = np.asarray(dataset.ticker)
    dates = np.asarray(dataset.date, "datetime64[D]")
    names = dataset.tickers
    valid_end = _valid_ends(dataset, look_back)
    rows, skipped = [], []
    on_day = np.flatnonzero(dates == day)
    has_day = np.zeros(len(names), bool)
    has_day[ticker[on_day]] = True
    starts = np.searchsorted(ticker, np.arange(len(names) + 1))
    for k, name in enumerate(names):
        if not has_day[k]:
            lo, hi = starts[k], starts[k + 1]
            span = f" (its data covers {dates[lo]} .. {dates[hi - 1]})" if hi > lo else ""
            skipped.append({"ticker": name, "reason": f"no data on {day}{span}"})
    for r in on_day:
        if valid_end[r]:
            rows.append(int(r))
        else:
            skipped.append({"ticker": names[int(ticker[r])],
                            "reason": f"history too short for a full {look_back}-day window after the feature warm-up on {day}"})
    return np.asarray(rows, np.int64), sorted(skipped, key=lambda s: s["ticker"])


def _valid_ends(dataset, look_back: int) -> np.ndarray:
    """bool [n_rows]: row ends a window of ``look_back`` rows of one ticker, past the feature warm-up,
    with finite features (the same rule as data_prep's training windows, minus the target)."""
    ticker = np.asarray(dataset.ticker)
    n = ticker.shape[0]
    warmup = int(dataset.meta.get("warmup", 0))
    starts = np.searchsorted(ticker, np.arange(len(dataset.tickers) + 1))
    pos = np.arange(n) - starts[ticker]  # row number within its ticker (rows sorted by (ticker, date))
    bad = np.concatenate([[0], np.cumsum(~np.isfinite(np.asarray(dataset.features)).all(axis=1))])
    ok = pos - look_back + 1 >= warmup
    end = np.flatnonzero(ok)
    ok[end] = bad[end + 1] - bad[end - look_back + 1] == 0
    return ok


def score_rows(dataset, rows: np.ndarray, net, batch_size: int, device: str | None) -> list[dict[str, Any]]:
    """The model's rise probability of the windows ending at ``rows``, highest first, with 0-100 scores."""
    import model

    prob = np.asarray(model.predict(net, dataset, rows, batch_size=batch_size, device=device), np.float64)
    names = dataset.tickers
    out = [{"ticker": names[int(dataset.ticker[r])], "score": round(100.0 * float(p), 2),
            "probability": float(p)} for r, p in zip(rows, prob)]
    out.sort(key=lambda d: (-d["probability"], d["ticker"]))
    for i, d in enumerate(out, 1):
        d["rank"] = i
    return out


def run(args: argparse.Namespace) -> int:
    import data_prep

    from cli.evaluate import check_model_dir, load_model_dir

    if args.top is not None and args.top < 1:
        raise InputError(f"--top must be a positive integer, but got --top={args.top}.")
    day = _parse_date(args.date) if args.date else None
    # every input check comes before loading the model, which imports torch (seconds)
    meta = check_model_dir(args.model_dir)
    dataset = data_prep.featurize_for_inference(args.data, meta)
    dates = np.asarray(dataset.date, "datetime64[D]")
    if dates.size == 0:
        raise InputError(f"{args.data} holds no rows to predict from.")
    first, last = dates.min(), dates.max()
    if day is None:
        day = last
    elif not (dates == day).any():
        raise InputError(f"--date {day} has no data in {args.data}; available dates run from {first} to {last} "
                         "(trading days only).")
    rows, skipped = full_window_rows(dataset, day, dataset.look_back)
    if rows.size == 0:
        raise InputError(f"no ticker has a full {dataset.look_back}-day window ending on {day} "
                         f"({len(skipped)} skipped: {', '.join(x['ticker'] for x in skipped[:5])}); pick a later --date.")
    loaded = load_model_dir(args.model_dir)
    scores = score_rows(dataset, rows, loaded.net, loaded.cfg.eval_batch_size, args.device)
    shown = scores[: args.top] if args.top else scores
    look_ahead = dataset.look_ahead
    for s in skipped:
        print(f"skipped {s['ticker']}: {s['reason']}", file=sys.stderr)

    if args.format == "json":
        doc = {"date": str(day), "look_ahead": look_ahead, "model_dir": str(args.model_dir), "source": args.data,
               "n_scored": len(scores), "predictions": shown, "skipped": skipped}
        print(json.dumps(doc, indent=2))
    elif args.format == "csv":
        w = csv.writer(sys.stdout, lineterminator="\n")
        w.writerow(["rank", "ticker", "date", "score", "probability"])
        for d in shown:
            w.writerow([d["rank"], d["ticker"], str(day), f"{d['score']:.2f}", f"{d['probability']:.6f}"])
    else:
        width = max([6] + [len(d["ticker"]) for d in shown])
        print(f"Rise score (0-100) over the next {look_ahead} trading days, windows ending {day}:")
        print(f"{'rank':>4}  {'ticker':<{width}}  {'score':>6}")
        for d in shown:
            print(f"{d['rank']:>4}  {d['ticker']:<{width}}  {d['score']:>6.2f}")
        if len(shown) < len(scores):
            print(f"({len(scores) - len(shown)} more not shown; --top {args.top})")
        if skipped:
            print(f"({len(skipped)} tickers skipped, see stderr)")
    return 0
